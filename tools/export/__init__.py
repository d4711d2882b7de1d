"""From a run's adapter to a served model: merged weights, GGUF, Ollama, vLLM, the Hub; the parity check and the
precision rule; the side-by-side playground."""
