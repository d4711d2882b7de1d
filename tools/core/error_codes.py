"""Every error code a tool can raise, by category; the category decides the CLI's exit code.

- ``input``: the arguments, a file or the workspace are wrong; the message says where and the hint how to
  fix it. Exit 2.
- ``setup``: something this machine lacks (an optional extra, an API key, a model file, a GPU). Exit 2.
- ``problem``: the tool ran and what it checks is broken (a tampered audit trail, a corrupt state file). Exit 1.
- ``external``: a provider, an API or the network failed; trying again later may work. Exit 3.
- ``internal``: a bug in finetune-skill or in its shipped data. Exit 3.

A test fails when a code is raised anywhere without being listed here, so the README's table stays whole.
"""

from __future__ import annotations

from typing import Literal

Category = Literal["input", "setup", "problem", "external", "internal"]

EXIT_CODES: dict[str, int] = {"input": 2, "setup": 2, "problem": 1, "external": 3, "internal": 3}


INPUT: frozenset[str] = frozenset(
    {
        "accelerators_needed",
        "activations_exceed_gpu",
        "bad_main_address",
        "bad_node_rank",
        "bad_run_name",
        "bucket_needed",
        "deepspeed_needs_processes",
        "main_address_missing",
        "node_launch_differs",
        "node0_not_found",
        "run_exists",
        "run_name_needed",
        "run_on_other_host",
        "shared_dir_not_absolute",
        "data_changed",
        "grpo_batch",
        "most_examples_truncated",
        "not_preference_data",
        "nothing_to_train",
        "reward_needs_setting",
        "adapter_missing",
        "answers_invalid",
        "answers_not_mapping",
        "answers_not_yaml",
        "answers_unknown_keys",
        "args_not_json",
        "args_too_deep",
        "bad_repo_id",
        "export_exists",
        "file_too_large",
        "args_not_object",
        "bad_anchor",
        "bad_compute",
        "bad_csv",
        "bad_deadline",
        "bad_delimiter",
        "bad_epochs",
        "bad_gpu_memory",
        "bad_json_shape",
        "bad_line",
        "bad_mapping",
        "bad_max_age",
        "bad_mfu",
        "bad_model_id",
        "bad_model_size",
        "bad_monthly_requests",
        "bad_parquet",
        "bad_pii_report",
        "pii_unknown_language",
        "bad_ratios",
        "bad_regex",
        "bad_roles",
        "bad_run_id",
        "bad_scope",
        "bad_today",
        "batch_outlasts_serving",
        "batch_too_large",
        "binary_file",
        "candidate_empty",
        "config_not_json",
        "config_not_object",
        "config_unexpected",
        "contradicting_answers",
        "contradicting_constraints",
        "contradicting_inputs",
        "degenerate_split",
        "demo_out_not_empty",
        "dir_not_found",
        "empty_dataset",
        "empty_input",
        "empty_query",
        "few_shot_needs_train_data",
        "file_not_found",
        "fsdp_fp16_unsupported",
        "fsdp_needs_processes",
        "fsdp_no_layers",
        "fsdp_qlora_unsupported",
        "golden_mismatch",
        "invalid_arguments",
        "invalid_json",
        "llm_bad_base_url",
        "llm_bad_option",
        "llm_bad_request",
        "llm_unknown_model",
        "log_bad_values",
        "log_empty",
        "log_format_unknown",
        "log_invalid_json",
        "log_not_found",
        "log_unreadable",
        "lora_rank_unsupported",
        "method_not_supported",
        "missing_model",
        "missing_provider",
        "model_needed",
        "model_retired",
        "no_eval_items",
        "no_examples",
        "no_facts",
        "no_golden_outputs",
        "no_input",
        "no_openai_model",
        "no_paths",
        "no_prompts",
        "no_training_data",
        "no_training_examples",
        "not_a_file",
        "not_a_provider_run",
        "not_a_training_path",
        "not_jsonl",
        "offering_ended",
        "out_dir_is_file",
        "output_clash",
        "output_is_dir",
        "output_in_state_dir",
        "output_is_input",
        "parity_data_missing",
        "parity_required",
        "path_changed",
        "file_unreadable",
        "output_used_by_run",
        "path_empty",
        "path_invalid",
        "path_outside_workspace",
        "plan_invalid",
        "precision_change_refused",
        "predictions_invalid",
        "predictions_short",
        "provider_run",
        "reference_not_found",
        "run_active",
        "run_completed",
        "run_config_missing",
        "run_id_clash",
        "schema_invalid",
        "section_not_found",
        "skill_folder_taken",
        "skill_target_is_link",
        "skill_target_not_ours",
        "stratify_field_missing",
        "template_not_portable",
        "two_plans",
        "two_systems_needed",
        "unknown_client",
        "unknown_entity",
        "unknown_field",
        "unknown_format",
        "unknown_gpu",
        "unknown_hosting",
        "unknown_method",
        "unknown_model",
        "unknown_price",
        "unknown_provider",
        "unknown_role",
        "unknown_quant",
        "unknown_run",
        "unknown_target",
        "unknown_tool",
        "unsupported_format",
        "unsupported_model",
        "unsupported_option",
        "wrong_encoding",
    }
)

SETUP: frozenset[str] = frozenset(
    {
        "deepspeed_missing",
        "deepspeed_needs_cuda",
        "fsdp_needs_cuda",
        "bf16_unsupported",
        "demo_examples_missing",
        "gguf_failed",
        "hub_offline",
        "litellm_missing",
        "litellm_not_json",
        "litellm_schema",
        "litellm_unreadable",
        "llm_auth",
        "llm_forbidden",
        "llm_missing_key",
        "llm_unknown_backend",
        "missing_api_key",
        "missing_extra",
        "model_not_available",
        "model_not_found",
        "optimizer_needs_cuda",
        "pii_model_missing",
        "pii_model_unusable",
        "precision_needs_cuda",
        "qlora_needs_cuda",
        "tokenizer_unavailable",
        "workspace_missing",
    }
)

PROBLEM: frozenset[str] = frozenset(
    {
        "audit_corrupt",
        "checklist_corrupt",
        "checkpoint_mismatch",
        "golden_state_corrupt",
    }
)

EXTERNAL: frozenset[str] = frozenset(
    {
        "hub_failed",
        "hub_unreachable",
        "llm_bad_response",
        "llm_failed",
        "llm_rate_limited",
        "llm_server_error",
        "llm_stream_interrupted",
        "llm_unreachable",
        "no_golden_answers",
        "provider_busy",
        "provider_error",
        "provider_unreachable",
    }
)

INTERNAL: frozenset[str] = frozenset(
    {
        "recipe_syntax",
        "audit_unwritable",
        "bad_default",
        "internal_error",
        "knowledge_invalid",
        "pricing_layout",
        "registry_broken",
        "skill_build_failed",
        "unknown_constant",
        "unknown_default",
        "unknown_hyperparameter",
        "unknown_memory_rule",
        "unknown_table",
        "unknown_task",
        "unknown_threshold",
    }
)


CATALOGUE: dict[str, Category] = {
    **dict.fromkeys(INPUT, "input"),
    **dict.fromkeys(SETUP, "setup"),
    **dict.fromkeys(PROBLEM, "problem"),
    **dict.fromkeys(EXTERNAL, "external"),
    **dict.fromkeys(INTERNAL, "internal"),
}


def category_of(code: str) -> Category:
    """The category of ``code``; an unlisted code counts as internal (a test keeps that from happening)."""
    return CATALOGUE.get(code, "internal")


def exit_code(code: str) -> int:
    return EXIT_CODES[category_of(code)]
