"""Writes the sample project's datasets: examples/train.jsonl and examples/eval.jsonl.

The project: Juniper Outdoor, a small outfitter, wants its support assistant to answer in the
house style (a one-line answer first, numbered steps when there are steps, the order number
echoed back, the sign-off "- Juniper Support"). Prompting alone drifts from that style, which is
the textbook case for a small LoRA fine-tune.

The training file carries defects planted on purpose so the demo has something to find; they are
listed in examples/DEFECTS.md with their line numbers. Run `python examples/make_examples.py` to
regenerate (deterministic: the same bytes every time).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM = (
    "You are the support assistant of Juniper Outdoor. Answer in the house style: one short sentence "
    "that answers the question, then numbered steps if the customer has to do something, then the "
    "sign-off '- Juniper Support'. Echo order numbers back. Never promise refunds outside the policy."
)
SYSTEM_OLD = "You are a helpful assistant for an outdoor gear shop."
SIGN = "\n\n- Juniper Support"

PRODUCTS = [
    ("Ridgeline 2 tent", "tent"),
    ("Cascade 40L backpack", "backpack"),
    ("Tundra -7C sleeping bag", "sleeping bag"),
    ("Trailhead GTX boots", "boots"),
    ("Summit softshell jacket", "jacket"),
    ("Alpine trekking poles", "poles"),
    ("Basecamp stove", "stove"),
    ("Drift inflatable pad", "sleeping pad"),
    ("Aurora headlamp", "headlamp"),
    ("Glacier water filter", "water filter"),
    ("Canyon 65L pack", "backpack"),
    ("Fjord rain shell", "jacket"),
]
CITIES = ["Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast", "York", "Norwich", "Exeter", "Inverness", "Bath"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def order_no(rng: random.Random) -> str:
    return f"JO-{rng.randint(100000, 999999)}"


def where_is_my_order(rng: random.Random) -> tuple[str, str]:
    o, city, day = order_no(rng), rng.choice(CITIES), rng.choice(DAYS)
    product = rng.choice(PRODUCTS)[0]
    asks = [
        f"Hi, where is my order {o}? It was supposed to arrive already.",
        f"My {product} (order {o}) still hasn't shown up. Can you check?",
        f"Order {o} - tracking hasn't moved in three days, is it lost?",
        f"hey any update on {o}?? need it before my trip",
        f"Could you tell me when order {o} will get to {city}?",
    ]
    answer = (
        f"Order {o} is with the courier and due at your {city} address on {day}.\n\n"
        f"1. Use the tracking link in your dispatch email for live updates.\n"
        f"2. If it has not arrived by {day} evening, reply here and we will open a courier trace.{SIGN}"
    )
    return rng.choice(asks), answer


def returns(rng: random.Random) -> tuple[str, str]:
    product, kind = rng.choice(PRODUCTS)
    o = order_no(rng)
    days = rng.choice([3, 10, 18, 25])
    asks = [
        f"I bought the {product} {days} days ago and it doesn't fit my needs. Can I return it? Order {o}.",
        f"How do I send back a {kind}? Order {o}, used it once.",
        f"Return request for {o} please, the {kind} isn't what I expected.",
        f"Can I still return my {product}? I got it {days} days ago ({o}).",
    ]
    if days <= 30:
        answer = (
            f"Yes, order {o} is inside our 30-day return window.\n\n"
            f"1. Open Orders > {o} > Return an item on juniper-outdoor.example.\n"
            f"2. Print the prepaid label and pack the {kind} with its tags.\n"
            f"3. Drop it at any parcel shop; the refund reaches your card 3-5 working days after it arrives.{SIGN}"
        )
    else:
        answer = f"Order {o} is past the 30-day window, so it cannot be returned for a refund.{SIGN}"
    return rng.choice(asks), answer


def sizing(rng: random.Random) -> tuple[str, str]:
    height = rng.randint(158, 196)
    product = rng.choice(["Trailhead GTX boots", "Summit softshell jacket", "Fjord rain shell"])
    asks = [
        f"What size {product} should I get? I'm {height} cm.",
        f"I'm {height}cm and between sizes, which {product} size do you recommend?",
        f"sizing question - {height} cm tall, {product}?",
    ]
    size = "S" if height < 168 else "M" if height < 178 else "L" if height < 188 else "XL"
    if "boots" in product:
        answer = (
            f"Go by foot length rather than height: the {product} run true to size.\n\n"
            f"1. Measure your foot in cm against a wall.\n"
            f"2. Pick the size on the chart on the product page; if you are between sizes, size up for thick "
            f"socks.{SIGN}"
        )
    else:
        answer = (
            f"At {height} cm most customers take a {size} in the {product}.\n\n"
            f"1. Check your chest measurement against the size chart on the product page.\n"
            f"2. Size up if you plan to layer a fleece underneath.{SIGN}"
        )
    return rng.choice(asks), answer


def warranty(rng: random.Random) -> tuple[str, str]:
    product, kind = rng.choice(PRODUCTS)
    years = rng.choice([1, 2, 3])
    fault = rng.choice(["the zip broke", "a seam is leaking", "the buckle snapped", "it stopped working"])
    asks = [
        f"My {product} is {years} years old and {fault}. Is that covered?",
        f"{fault} on my {kind}, bought {years} years ago. Warranty?",
        f"Is {fault.replace('the ', 'a ')} on a {years}-year-old {kind} covered by warranty?",
    ]
    if years <= 2:
        answer = (
            f"Yes, manufacturing faults on the {product} are covered for 2 years.\n\n"
            f"1. Send two photos of the fault and your order number to warranty@juniper-outdoor.example.\n"
            f"2. We reply within 2 working days with a repair or replacement.{SIGN}"
        )
    else:
        answer = (
            f"The 2-year warranty on the {product} has ended, but our repair service can usually fix it.\n\n"
            f"1. Book a repair quote on the Repairs page.\n"
            f"2. Post the {kind} to us with the quote number inside.{SIGN}"
        )
    return rng.choice(asks), answer


def shipping(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(["Ireland", "France", "Germany", "the Netherlands", "Norway", "Spain"])
    asks = [
        f"Do you ship to {country}? How long does it take?",
        f"Shipping times to {country}?",
        f"Can I order from {country} and how much is delivery?",
    ]
    days = {
        "Ireland": "3-5",
        "France": "4-6",
        "Germany": "4-6",
        "the Netherlands": "4-6",
        "Norway": "6-9",
        "Spain": "5-7",
    }[country]
    answer = (
        f"Yes, we ship to {country}; delivery takes {days} working days.\n\n"
        f"1. Shipping is calculated at checkout once you enter your address.\n"
        f"2. Orders over 120 EUR ship free.{SIGN}"
    )
    return rng.choice(asks), answer


def payment(rng: random.Random) -> tuple[str, str]:
    o = order_no(rng)
    asks = [
        f"My card was declined but I was still charged for {o}?",
        f"Payment failed on {o} and now I see a pending charge. What happened?",
        f"why was I charged twice for order {o}",
    ]
    answer = (
        f"The charge you see for order {o} is a card authorisation hold, not a payment.\n\n"
        f"1. Holds from declined payments drop off within 5 working days.\n"
        f"2. If it is still there after 5 days, send us a screenshot and we will contact the bank.{SIGN}"
    )
    return rng.choice(asks), answer


def compatibility(rng: random.Random) -> tuple[str, str]:
    pairs = [
        ("Basecamp stove", "screw-thread gas canisters", True),
        ("Glacier water filter", "standard 28 mm bottles", True),
        ("Drift inflatable pad", "the Ridgeline 2 tent floor", True),
        ("Aurora headlamp", "AAA batteries", False),
    ]
    item, other, ok = rng.choice(pairs)
    asks = [
        f"Does the {item} work with {other}?",
        f"Is the {item} compatible with {other}?",
        f"quick q: {item} + {other}, will that work?",
    ]
    if ok:
        answer = f"Yes, the {item} works with {other}.{SIGN}"
    else:
        answer = (
            f"No, the {item} uses its built-in rechargeable cell, not {other}.\n\n"
            f"1. Charge it over USB-C; a full charge takes about 3 hours.{SIGN}"
        )
    return rng.choice(asks), answer


def discount(rng: random.Random) -> tuple[str, str]:
    code = rng.choice(["TRAIL10", "WINTER15", "FIRSTCAMP", "SPRING20"])
    asks = [
        f"The code {code} isn't working at checkout.",
        f"Why won't {code} apply to my basket?",
        f"Discount {code} says invalid??",
    ]
    answer = (
        f"Codes like {code} apply only to full-price items and cannot be combined with sale prices.\n\n"
        f"1. Remove sale items from the basket and apply {code} again.\n"
        f"2. If it still fails, send us a screenshot of the checkout page.{SIGN}"
    )
    return rng.choice(asks), answer


TOPICS = [where_is_my_order, returns, sizing, warranty, shipping, payment, compatibility, discount]


def conversation(rng: random.Random, system: str = SYSTEM) -> dict:
    user, assistant = rng.choice(TOPICS)(rng)
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def unique_rows(rng: random.Random, n: int, seen: set[str]) -> list[dict]:
    rows: list[dict] = []
    while len(rows) < n:
        row = conversation(rng)
        key = row["messages"][1]["content"]
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def dump(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False)


def build() -> tuple[list[str], list[str], list[tuple[int, str]]]:
    rng = random.Random(20261124)
    seen: set[str] = set()
    train = [dump(r) for r in unique_rows(rng, 186, seen)]
    evals = [dump(r) for r in unique_rows(rng, 40, seen)]
    defects: list[tuple[int, str]] = []

    def plant(index: int, line: str, what: str) -> None:
        train.insert(index, line)
        defects.append((index, what))

    plant(20, train[5], "exact duplicate of line 6")
    plant(41, train[11], "exact duplicate of line 12")
    near = json.loads(train[30])
    near["messages"][1]["content"] = near["messages"][1]["content"].replace("?", "??", 1) + " "
    plant(55, dump(near), "near-duplicate of line 31 (two characters added)")
    plant(
        70,
        '{"messages": [{"role": "system", "content": "' + SYSTEM[:40] + '"}, {"role": "user", "content": "hi"',
        "invalid JSON (truncated line)",
    )
    no_answer = json.loads(train[80])
    no_answer["messages"] = no_answer["messages"][:2]
    plant(85, dump(no_answer), "conversation ends with a user turn (no assistant answer to learn)")
    empty = json.loads(train[90])
    empty["messages"][2]["content"] = ""
    plant(95, dump(empty), "empty assistant content")
    refusal = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Can you tell me if the Ridgeline 2 tent is good for winter camping?"},
            {
                "role": "assistant",
                "content": "As an AI language model, I cannot provide personal opinions about products.",
            },
        ]
    }
    plant(110, dump(refusal), "refusal boilerplate in the assistant turn")
    contra = json.loads(train[120])
    contra["messages"][2]["content"] = "Please contact the store you bought it from." + SIGN
    plant(125, dump(contra), "same prompt as line 121 with a different answer (contradiction)")
    for index in (135, 150):
        old = json.loads(train[index])
        old["messages"][0]["content"] = SYSTEM_OLD
        train[index] = dump(old)
        defects.append((index, "outdated system prompt (inconsistent with the rest)"))
    pii = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": "Hi, this is Margaret Okafor, my email is margaret.okafor@example.com "
                "and my phone is +44 7700 900123. Order JO-552871 arrived damaged, can you help?",
            },
            {
                "role": "assistant",
                "content": "Sorry the parcel arrived damaged - order JO-552871 qualifies "
                "for a free replacement.\n\n1. Reply with a photo of the damage.\n2. We dispatch the "
                "replacement the same day." + SIGN,
            },
        ]
    }
    plant(160, dump(pii), "PII: a customer's name, email address and phone number")
    key = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": "Our shop integration fails. I'm using the key "
                "sk-proj-4fQ9xT2mB7vL1nR8cW3yZ6aH0dK5pE9s to call your stock API, what's wrong?",
            },
            {
                "role": "assistant",
                "content": "Stock API keys are issued per partner account, so "
                "please rotate that key now since it was shared in a message.\n\n1. Create a new key "
                "in the partner portal.\n2. Email partners@juniper-outdoor.example with the error text." + SIGN,
            },
        ]
    }
    plant(175, dump(key), "secret: an API key pasted by a customer")
    evals[7] = train[12]
    defects = sorted((i + 1, what) for i, what in defects)
    return train, evals, defects


# The style sets: the same house style on questions about many tasks, without planted defects. The held-out set asks
# about tasks no training line covers, so what carries over to it is the style (the one-line answer, numbered steps,
# the sign-off), not answers recalled from training. `make demo-real` trains the real model on them.
STYLE_TASKS: dict[str, tuple[list[str], str, list[list[str]]]] = {
    "clean": (
        ["How do I clean my {item}?", "What's the best way to wash the {item}?"],
        "A gentle hand wash keeps the {item} in shape.",
        [
            ["Brush off dry dirt first.", "Knock loose mud off once it has dried."],
            ["Wash it by hand in lukewarm water with mild soap.", "Sponge it with warm water and a little soap."],
            ["Let it air-dry away from radiators.", "Hang it somewhere airy until fully dry."],
        ],
    ),
    "store": (
        ["How should I store the {item} over winter?", "Where do I keep my {item} between trips?"],
        "Clean, dry and loose is how the {item} lasts longest.",
        [
            ["Clean the {item} and dry it completely.", "Make sure the {item} is clean and bone dry."],
            ["Keep it in a cool, dry cupboard.", "Store it somewhere cool and out of the sun."],
            ["Check it once before the season starts.", "Look it over before your first trip."],
        ],
    ),
    "repair": (
        ["My {item} is torn, can you fix it?", "Do you repair a damaged {item}?"],
        "Yes, our workshop repairs the {item}.",
        [
            ["Take a photo of the damage.", "Photograph the damaged part."],
            ["Send it through the repair form with your order number.", "Fill in the repair form online."],
            ["We reply within 2 working days with a quote.", "Expect a quote from us within 2 working days."],
        ],
    ),
    "size": (
        ["Which size {item} should I buy?", "How do I choose the right size of {item}?"],
        "The size chart on the product page is the safest guide for the {item}.",
        [
            ["Measure yourself with a soft tape.", "Take your measurements with a tape measure."],
            ["Compare them with the chart on the {item} page.", "Match your numbers to the {item} size chart."],
            ["Between two sizes, take the larger one.", "If you are in between, size up."],
        ],
    ),
    "gift": (
        ["Can I send the {item} as a gift?", "Do you gift-wrap a {item}?"],
        "Yes, any {item} can go out as a gift.",
        [
            ["Tick 'This is a gift' at checkout.", "Choose the gift option in the basket."],
            ["Add a message for the card.", "Write the note you want on the card."],
            ["The receipt stays out of the parcel.", "We leave prices off the packing slip."],
        ],
    ),
    "exchange": (
        ["Can I swap my {item} for another colour?", "How do I exchange the {item}?"],
        "Exchanges on the {item} are free within 30 days.",
        [
            ["Open your order and choose Exchange.", "Start an exchange from your order page."],
            ["Pick the colour or size you want instead.", "Select the replacement you would like."],
            ["Post the original back with the prepaid label.", "Send the first one back with the free label."],
        ],
    ),
    "track": (
        ["Where is my {item} order?", "How can I track the {item} I ordered?"],
        "Your {item} can be tracked from the dispatch email.",
        [
            ["Open the dispatch email we sent you.", "Find the email that says your order has shipped."],
            ["Click the tracking link for live updates.", "Follow the courier link to see where it is."],
            ["If it stalls for 3 days, reply and we trace it.", "No movement for 3 days? Tell us and we chase it."],
        ],
    ),
    "waterproof": (
        ["How do I re-waterproof my {item}?", "My {item} isn't waterproof any more, what do I do?"],
        "A wash-in treatment brings the {item} back to full water repellency.",
        [
            ["Wash it with a technical cleaner.", "Clean it first with a tech wash."],
            ["Apply a spray-on or wash-in proofer.", "Treat it with a waterproofing product."],
            ["Dry it on low heat to set the treatment.", "Tumble or air-dry warm so the coating bonds."],
        ],
    ),
    "pack": (
        ["How do I pack the {item} for a flight?", "Can I take my {item} on a plane?"],
        "The {item} travels well if it is packed with a little care.",
        [
            ["Check your airline's size limits.", "Look up the airline's baggage rules."],
            ["Wrap it in soft clothing inside your bag.", "Cushion it with clothes in the middle of the bag."],
            ["Keep the receipt handy for customs.", "Carry proof of purchase in case customs ask."],
        ],
    ),
    "warranty": (
        ["Is my {item} still under warranty?", "What does the warranty on the {item} cover?"],
        "The {item} is covered for 2 years against manufacturing faults.",
        [
            ["Find your order number.", "Look up the order number in your account."],
            ["Email two photos of the fault to our warranty team.", "Send photos of the fault to the warranty desk."],
            ["We reply within 2 working days.", "You will hear back within 2 working days."],
        ],
    ),
    "price": (
        ["The {item} is cheaper elsewhere, do you price match?", "Will you match a lower price on the {item}?"],
        "Yes, we match a lower price on the {item} from a UK retailer.",
        [
            ["Send us a link to the lower price.", "Share the other shop's listing with us."],
            ["Make sure it is in stock there.", "Check the item is available at that price."],
            ["We refund the difference to your card.", "The difference goes back to your card."],
        ],
    ),
    "care": (
        ["How do I look after my {item}?", "Any care tips for the {item}?"],
        "A little care after each trip keeps the {item} working for years.",
        [
            ["Empty and air it after every trip.", "Open it up to air once you are home."],
            ["Fix small problems before they grow.", "Deal with small wear early."],
            ["Store it clean and dry.", "Put it away only when clean and dry."],
        ],
    ),
    "rent": (
        ["Can I rent a {item} instead of buying?", "Do you hire out the {item}?"],
        "Yes, the {item} can be rented by the week.",
        [
            ["Book the dates on our Rentals page.", "Reserve your dates online under Rentals."],
            ["Collect it from the store or have it posted.", "Pick it up in store or choose delivery."],
            ["Return it clean within 2 days of your trip.", "Bring it back clean no later than 2 days after."],
        ],
    ),
    "recycle": (
        ["What can I do with my old {item}?", "Do you recycle a worn-out {item}?"],
        "Our take-back scheme gives the old {item} a second life.",
        [
            ["Bring it to any store or post it to us.", "Drop it off in store or send it by post."],
            ["We repair it for resale or recycle the materials.", "It is repaired for resale or recycled."],
            ["You get a 10 percent voucher for your next order.", "We send you a 10 percent voucher."],
        ],
    ),
}
STYLE_HELD_OUT = ("rent", "recycle", "price", "gift")
STYLE_ITEMS = [name for name, _ in PRODUCTS]


def style_answer(rng: random.Random, task: str, item: str) -> str:
    _, opening, steps = STYLE_TASKS[task]
    body = "\n".join(f"{i}. {rng.choice(choices).format(item=item)}" for i, choices in enumerate(steps, 1))
    return f"{opening.format(item=item)}\n\n{body}{SIGN}"


def style_sets() -> tuple[list[str], list[str]]:
    """60 training lines on 10 tasks and 24 held-out lines on 4 other tasks, all in the house style."""
    rng = random.Random(20261204)
    train, evals = [], []
    for task in STYLE_TASKS:
        held = task in STYLE_HELD_OUT
        items = rng.sample(STYLE_ITEMS, 6)
        for item in items:
            question = rng.choice(STYLE_TASKS[task][0]).format(item=item)
            row = {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": style_answer(rng, task, item)},
                ]
            }
            (evals if held else train).append(dump(row))
    rng.shuffle(train)
    return train, evals


def main() -> None:
    style_train, style_eval = style_sets()
    (HERE / "style_train.jsonl").write_text("\n".join(style_train) + "\n", "utf-8")
    (HERE / "style_eval.jsonl").write_text("\n".join(style_eval) + "\n", "utf-8")
    train, evals, defects = build()
    (HERE / "train.jsonl").write_text("\n".join(train) + "\n", "utf-8")
    (HERE / "eval.jsonl").write_text("\n".join(evals) + "\n", "utf-8")
    lines = [
        "# Planted defects in examples/train.jsonl",
        "",
        "Generated by `python examples/make_examples.py`; the demo must find each of these.",
        "",
        "| line | defect |",
        "|---|---|",
    ]
    lines += [f"| {n} | {what} |" for n, what in defects]
    lines += ["", "examples/eval.jsonl line 8 repeats a training example (train/eval leakage).", ""]
    (HERE / "DEFECTS.md").write_text("\n".join(lines), "utf-8")


if __name__ == "__main__":
    main()
