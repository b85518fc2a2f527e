"""Deterministic generator of realistic exports at any size, for the benchmark.

Three kinds, one month (June 2026, UTC), written as they are generated (memory stays
bounded whatever the size; nothing holds more than one file's timestamps):

* ``jsonl``: tokaudit generic JSONL request logs, two files per day: a gateway log of flat
  lines (several providers and models, users, keys, projects, purposes, cached and reasoning
  tokens, ~3% errors, logged costs on some apps) and an agent log whose lines wrap raw
  OpenAI Chat, OpenAI Responses and Anthropic Messages response objects.
* ``openrouter``: OpenRouter per-generation CSV exports (the 24-column header), ``--files``
  files (default 1).
* ``claude-code``: a Claude Code projects tree (``<out>/projects/<encoded-cwd>/<id>.jsonl``,
  plus ``<id>/subagents/agent-<id>.jsonl``). Each API response is written as 2-4 lines, one
  per content block, repeating the same ``message.id``, ``requestId`` and usage (intermediate
  lines carry a smaller ``output_tokens``), between user, tool-result, summary and
  file-history-snapshot lines with placeholder content of realistic size, so the bytes that
  carry no usage dominate, as in real transcripts. ``--requests`` counts API messages.

The same ``--seed`` and size always give byte-identical files (no wall clock, no hash
randomisation). The totals a correct reader must find are computed while writing and saved
to ``<out>/expected.json`` (and printed)::

    python bench/generate.py --kind jsonl --requests 1M --out bench/data/jsonl-1M
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

GENERATOR_VERSION = 1
MONTH = "2026-06"
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
DAY_MS = 86_400_000
MASK64 = (1 << 64) - 1
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
BUFFER = 1 << 20  # write buffer per open file
#: The folder (inside ``--out``) holding the export; ``expected.json`` sits beside it so
#: that ingesting the folder reads only export files.
INPUT = {"jsonl": "logs", "openrouter": "openrouter", "claude-code": "projects"}


def parse_count(text: str) -> int:
    """``100k``, ``1M``, ``10M``, ``200000`` -> an int."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "kmg" else text
    return int(float(number) * scale)


def label(count: int) -> str:
    """The inverse of :func:`parse_count` for round sizes (``1000000`` -> ``1M``)."""
    for suffix, scale in (("M", 1_000_000), ("k", 1_000)):
        if count >= scale and count % scale == 0:
            return f"{count // scale}{suffix}"
    return str(count)


def b62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(B62[digit])
    return "".join(out)


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


class Ids:
    """Unique, random-looking ids: a counter through a 64-bit bijection (splitmix64).

    :meth:`next` returns the bijective word; :meth:`token` spells it in base 62 (11 chars
    hold all 64 bits, so tokens are unique) followed by pseudo-random filler characters.
    """

    def __init__(self, seed: int, salt: int) -> None:
        self.mix = _splitmix(seed * 1_000_003 + salt)
        self.counter = 0

    def next(self) -> int:
        self.counter += 1
        return _splitmix(self.counter ^ self.mix)

    @staticmethod
    def token(ident: int, width: int) -> str:
        out = b62(ident, 11)
        word = ident
        while len(out) < width:
            word = _splitmix(word)
            out += b62(word, 10)
        return out[:width]


def day_weights(rng: random.Random) -> list[float]:
    """Weekday-heavy daily volume (June 1st 2026 is a Monday) with some noise."""
    weights = []
    for day in range(DAYS):
        weekend = (day % 7) in (5, 6)
        weights.append((0.35 if weekend else 1.0) * rng.uniform(0.85, 1.15))
    return weights


def split_counts(total: int, weights: list[float]) -> list[int]:
    """Integer counts proportional to ``weights`` that sum to ``total`` exactly."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - counts[i], -i), reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


#: Share of traffic per hour of day (UTC): office hours in Europe and the US.
HOUR_WEIGHTS = [
    2, 1.5, 1.2, 1, 1, 1.2, 2, 3.5, 6, 8, 8.5, 8, 7, 7.5, 8.5, 9, 9, 8, 6.5, 5, 4, 3.5, 3, 2.5,
]  # fmt: skip
_HOUR_CUM = [sum(HOUR_WEIGHTS[: i + 1]) for i in range(24)]


def day_offsets(rng: random.Random, count: int) -> list[int]:
    """``count`` sorted millisecond offsets within a day, following the hourly pattern."""
    top = _HOUR_CUM[-1]
    offsets = []
    for _ in range(count):
        hour = bisect.bisect_right(_HOUR_CUM, rng.random() * top)
        offsets.append(min(hour, 23) * 3_600_000 + int(rng.random() * 3_600_000))
    offsets.sort()
    return offsets


def iso_ms(day: int, offset_ms: int) -> str:
    """``2026-06-DDTHH:MM:SS.mmmZ`` without datetime objects (hot path)."""
    secs, ms = divmod(offset_ms, 1000)
    minutes, s = divmod(secs, 60)
    h, m = divmod(minutes, 60)
    return f"2026-06-{day + 1:02d}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


def picker(rng: random.Random, weighted: list[tuple[object, float]]):  # type: ignore[no-untyped-def]
    """A fast weighted choice over a fixed list."""
    items = [item for item, _ in weighted]
    cum = []
    acc = 0.0
    for _, weight in weighted:
        acc += weight
        cum.append(acc)

    def pick() -> object:
        return items[min(bisect.bisect_right(cum, rng.random() * acc), len(items) - 1)]

    return pick


class Totals:
    """What a correct reader must find, accumulated while writing (exact integers)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.by_model: dict[str, dict[str, int]] = {}

    def add(self, model: str, **values: int) -> None:
        for key, value in values.items():
            self.values[key] = self.values.get(key, 0) + value
        slot = self.by_model.setdefault(model, {})
        for key, value in values.items():
            slot[key] = slot.get(key, 0) + value


# ----------------------------------------------------------------------------- models

PICO = 10**12  # costs are summed in pico-dollars, exactly


@dataclass(frozen=True)
class Model:
    raw: str  # as the log writes it
    provider: str
    rates: tuple[float, float, float, float]  # USD per 1M: input, cache read, cache write, output
    reasoning: float  # share of output that is reasoning (0 = not a reasoning model)
    prompt: tuple[float, float]  # lognormal mu, sigma of the prompt size
    output: tuple[float, float]  # lognormal mu, sigma of the output size
    caching: float  # share of the prompt read from cache when caching applies
    slug: str = ""  # OpenRouter permaslug
    host: str = ""  # OpenRouter provider_name


def _pico_rates(rates: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    # USD per 1M tokens == micro-dollars per token == 10**6 pico-dollars per token.
    return tuple(round(r * 1_000_000) for r in rates)  # type: ignore[return-value]


MODELS = {
    m.raw: m
    for m in (
        Model("gpt-5.5-2026-04-23", "openai", (5, 0.5, 0, 30), 0.55, (8.0, 0.9), (6.6, 0.8), 0.35,
              "openai/gpt-5.5-2026-04-23", "OpenAI"),
        Model("gpt-5.4-mini-2026-03-17", "openai", (0.75, 0.075, 0, 4.5), 0.25, (7.4, 0.9),
              (5.6, 0.8), 0.3, "openai/gpt-5.4-mini-2026-03-17", "OpenAI"),
        Model("gpt-4o-mini-2024-07-18", "openai", (0.15, 0.075, 0, 0.6), 0.0, (7.0, 0.8),
              (5.2, 0.7), 0.2, "openai/gpt-4o-mini-2024-07-18", "OpenAI"),
        Model("gpt-4.1-2025-04-14", "openai", (2, 0.5, 0, 8), 0.0, (7.9, 0.8), (5.9, 0.7), 0.3,
              "openai/gpt-4.1-2025-04-14", "OpenAI"),
        Model("claude-opus-4-8", "anthropic", (5, 0.5, 6.25, 25), 0.0, (8.8, 0.9), (6.5, 0.8),
              0.6, "anthropic/claude-opus-4.8", "Anthropic"),
        Model("claude-sonnet-4-6", "anthropic", (3, 0.3, 3.75, 15), 0.0, (8.5, 0.9), (6.2, 0.8),
              0.6, "anthropic/claude-4.6-sonnet-20260217", "Anthropic"),
        Model("claude-haiku-4-5-20251001", "anthropic", (1, 0.1, 1.25, 5), 0.0, (7.6, 0.8),
              (5.3, 0.7), 0.5, "anthropic/claude-4.5-haiku-20251001", "Anthropic"),
        Model("gemini-2.5-pro", "google", (1.25, 0.125, 0, 10), 0.6, (8.3, 0.9), (6.7, 0.8), 0.2,
              "google/gemini-2.5-pro", "Google AI Studio"),
        Model("gemini-2.5-flash", "google", (0.3, 0.03, 0, 2.5), 0.3, (7.6, 0.9), (5.8, 0.8),
              0.2, "google/gemini-2.5-flash", "Google Vertex"),
        Model("mistral-small-2603", "mistral", (0.15, 0.015, 0, 0.6), 0.0, (7.2, 0.7),
              (5.4, 0.7), 0.0, "mistralai/mistral-small-2603", "Mistral"),
        Model("grok-4", "xai", (3, 0.75, 0, 15), 0.5, (7.8, 0.8), (6.3, 0.8), 0.2,
              "x-ai/grok-4", "xAI"),
        Model("acme-llama-70b-ft", "self-hosted", (0, 0, 0, 0), 0.0, (7.5, 0.7), (5.5, 0.7),
              0.0),
    )
}  # fmt: skip
PICO_RATES = {raw: _pico_rates(m.rates) for raw, m in MODELS.items()}


@dataclass(frozen=True)
class App:
    name: str
    team: str
    project: str
    environment: str
    purposes: tuple[str, ...]
    models: tuple[tuple[str, float], ...]
    keys: tuple[tuple[str, str], ...]  # (api_key, key_name)
    users: tuple[str, ...]
    share: float
    logs_cost: bool = False
    outcome: bool = False
    batch: float = 0.0  # share of requests on the batch tier
    session: str = ""  # session id prefix


_FIRST = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe",
    "ahmed", "bea", "chen", "dmitri", "elif", "fatima", "goran", "hana",
)  # fmt: skip
_LAST = (
    "martin", "smith", "dubois", "rossi", "garcia", "muller", "kowalski", "nguyen", "silva",
    "jensen", "novak", "tanaka", "okafor", "haddad", "berg", "costa", "ivanova", "moreau", "lind",
    "park", "weber", "diaz", "kaya", "sato", "petrov", "ali", "horvat", "mori", "larsen",
)  # fmt: skip
USERS = tuple(f"{a}.{b}" for a, b in zip(_FIRST, _LAST, strict=True))
APPS = (
    App("support-bot", "support-tools", "helpdesk", "production",
        ("summarize", "classification", "reply-draft"),
        (("claude-haiku-4-5-20251001", 0.6), ("claude-sonnet-4-6", 0.4)),
        (("key_prod_4536", "support-bot-prod"),), ("support-bot",), 0.22, logs_cost=True,
        session="ticket-"),
    App("code-assistant", "devex", "ide-copilot", "production",
        ("autocomplete", "code-review", "refactoring", "commit-message"),
        (("gpt-5.4-mini-2026-03-17", 0.4), ("claude-sonnet-4-6", 0.3), ("gpt-5.5-2026-04-23", 0.1),
         ("claude-opus-4-8", 0.05), ("gpt-4o-mini-2024-07-18", 0.15)),
        (("key_ide_7a21", "ide-prod"), ("key_ide_7a22", "ide-prod-eu")), USERS, 0.30,
        outcome=True, session="ide-"),
    App("docs-search", "search", "docs-search", "production", ("answer", "rerank"),
        (("gemini-2.5-flash", 0.6), ("gpt-4.1-2025-04-14", 0.25), ("gemini-2.5-pro", 0.15)),
        (("key_search_31f0", "search-backend"),), ("docs-search",), 0.20, logs_cost=True),
    App("insights-batch", "data", "insights", "production", ("extraction", "classification"),
        (("gpt-4o-mini-2024-07-18", 0.5), ("mistral-small-2603", 0.3), ("grok-4", 0.05),
         ("acme-llama-70b-ft", 0.15)),
        (("key_data_9c04", "etl-nightly"),), ("etl-service",), 0.15, batch=0.4),
    App("playground", "research", "prototypes", "dev", ("experiment",),
        (("gpt-5.5-2026-04-23", 0.3), ("claude-opus-4-8", 0.3), ("gemini-2.5-pro", 0.2),
         ("grok-4", 0.2)),
        (("key_dev_0d88", "proto-experiment-2025"),), USERS[:8], 0.05, outcome=True),
    App("translator", "i18n", "localization", "staging", ("translation",),
        (("gpt-4.1-2025-04-14", 0.7), ("mistral-small-2603", 0.3)),
        (("key_i18n_5e19", "i18n-staging"),), ("translator",), 0.08),
)  # fmt: skip
AGENT_MODELS = (
    ("claude-sonnet-4-6", "anthropic", 0.45),
    ("claude-opus-4-8", "anthropic", 0.15),
    ("gpt-5.5-2026-04-23", "responses", 0.25),
    ("gpt-4.1-2025-04-14", "chat", 0.15),
)
ERRORS = (
    (429, "rate_limit", 0.45),
    (500, "server_error", 0.2),
    (529, "overloaded", 0.15),
    (408, "timeout", 0.15),
    (400, "invalid_request", 0.05),
)
REGIONS = ("us-east-1", "eu-central-1", "eu-west-1", "us-west-2")


def _tokens(rng: random.Random, params: tuple[float, float], low: int, high: int) -> int:
    return max(low, min(high, int(rng.lognormvariate(*params))))


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _cost_text(pico: int, decimals: int = 7) -> str:
    """Pico-dollars rounded half-even to ``decimals`` places, as a plain decimal string."""
    unit = 10 ** (12 - decimals)
    q, r = divmod(pico, unit)
    if r * 2 > unit or (r * 2 == unit and q % 2):
        q += 1
    whole, frac = divmod(q, 10**decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
    return text or "0"


def _rounded_pico(pico: int, decimals: int) -> int:
    unit = 10 ** (12 - decimals)
    q, r = divmod(pico, unit)
    if r * 2 > unit or (r * 2 == unit and q % 2):
        q += 1
    return q * unit


# ----------------------------------------------------------------------------- JSONL


class JsonlWriter:
    """Two generic-JSONL logs per day: the gateway's flat lines and the agent's responses."""

    AGENT_SHARE = 0.15

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.totals = Totals()
        self.ids = Ids(seed, 1)
        self.app_pick = picker(rng, [(app, app.share) for app in APPS])
        self.model_picks = {app.name: picker(rng, list(app.models)) for app in APPS}
        self.error_pick = picker(rng, [((code, kind), w) for code, kind, w in ERRORS])
        self.agent_pick = picker(rng, [((m, shape), w) for m, shape, w in AGENT_MODELS])
        self.last_hash: dict[str, str] = {}
        self.prefix = {app.name: _hex(rng, 64) for app in APPS}
        self.runs = 0

    def files(self, requests: int) -> list[tuple[str, int, int]]:
        """(relative path, day, count) for every file, in writing order."""
        agent = round(requests * self.AGENT_SHARE)
        weights = day_weights(self.rng)
        gateway_days = split_counts(requests - agent, weights)
        agent_days = split_counts(agent, weights)
        out = []
        for day in range(DAYS):
            stamp = f"{MONTH}-{day + 1:02d}"
            out.append((f"gateway/gateway-{stamp}.jsonl", day, gateway_days[day]))
            out.append((f"agents/agent-responses-{stamp}.jsonl", day, agent_days[day]))
        return out

    def write_gateway(self, handle: TextIO, day: int, count: int) -> None:
        rng = self.rng
        rand = rng.random
        add = self.totals.add
        for offset in day_offsets(rng, count):
            app: App = self.app_pick()
            raw: str = self.model_picks[app.name]()
            model = MODELS[raw]
            key, key_name = app.keys[int(rand() * len(app.keys))]
            user = app.users[int(rand() * len(app.users))]
            purpose = app.purposes[int(rand() * len(app.purposes))]
            ident = self.ids.next()
            if model.provider == "anthropic":
                request_id = f"msg_01{Ids.token(ident, 22)}"
            elif model.provider == "openai":
                request_id = f"chatcmpl-{Ids.token(ident, 29)}"
            else:
                request_id = f"req-{ident:016x}"
            if rand() < 0.02:  # a few loggers write local time with an offset
                moment = MONTH_START + timedelta(milliseconds=day * DAY_MS + offset, hours=2)
                ts = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{offset % 1000:03d}+02:00"
            else:
                ts = iso_ms(day, offset)
            if rand() < 0.012 and app.name in self.last_hash:
                prompt_hash = self.last_hash[app.name]
                outcome = "regenerated"
            else:
                prompt_hash = _hex(rng, 64)
                outcome = ("accepted" if rand() < 0.85 else "rejected") if app.outcome else ""
            self.last_hash[app.name] = prompt_hash
            parts = [
                f'{{"request_id":"{request_id}","timestamp":"{ts}","provider":"{model.provider}",'
                f'"model":"{raw}"'
            ]
            failed = rand() < 0.03
            if failed:
                code, kind = self.error_pick()
                fresh = cached = write = output = reasoning = 0
                parts.append(',"input_tokens":0,"output_tokens":0')
            else:
                prompt = _tokens(rng, model.prompt, 20, 900_000)
                cached = write = 0
                if model.caching and rand() < 0.6:
                    cached = int(prompt * model.caching * rand())
                if model.provider == "anthropic" and rand() < 0.2:
                    write = int((prompt - cached) * 0.5)
                fresh = prompt - cached - write
                output = _tokens(rng, model.output, 1, 64_000)
                reasoning = int(output * model.reasoning * rand()) if model.reasoning else 0
                parts.append(f',"input_tokens":{fresh},"cached_input_tokens":{cached}')
                if write:
                    parts.append(f',"cache_write_tokens":{write}')
                parts.append(f',"output_tokens":{output}')
                if reasoning:
                    parts.append(f',"reasoning_tokens":{reasoning}')
            parts.append(
                f',"api_key":"{key}","key_name":"{key_name}","user":"{user}","team":"{app.team}",'
                f'"project":"{app.project}","environment":"{app.environment}",'
                f'"purpose":"{purpose}","app":"{app.name}"'
            )
            if app.session:
                parts.append(f',"session_id":"{app.session}{int(rand() * 90000) + 10000}"')
            parts.append(f',"prompt_hash":"sha256:{prompt_hash}"')
            if failed:
                parts.append(f',"status":"error","http_status":{code},"error_type":"{kind}"')
            else:
                parts.append(',"status":"ok","http_status":200')
            parts.append(f',"latency_ms":{int(200 + rand() * 400 + output * 0.9)}')
            if outcome and not failed:
                parts.append(f',"outcome":"{outcome}"')
            tier = rand() < app.batch
            if tier:
                parts.append(',"service_tier":"batch"')
            pico = 0
            if app.logs_cost and not failed:
                r_in, r_cached, r_write, r_out = PICO_RATES[raw]
                pico = fresh * r_in + cached * r_cached + write * r_write + output * r_out
                pico = _rounded_pico(pico, 6)
                parts.append(f',"cost_usd":{_cost_text(pico, 6)}')
            region = REGIONS[int(rand() * len(REGIONS))]
            parts.append(f',"metadata":{{"region":"{region}","gateway":"llm-gw/2.3.1"')
            if model.caching and not failed:
                parts.append(f',"prefix_hash":"sha256:{self.prefix[app.name]}"')
            parts.append("}}\n")
            handle.write("".join(parts))
            add(
                raw,
                requests=1,
                errors=int(failed),
                input_tokens=fresh,
                cached_input_tokens=cached,
                cache_write_tokens=write,
                output_tokens=output,
                reasoning_tokens=reasoning,
                reported_cost_pico=pico,
            )

    def write_agent(self, handle: TextIO, day: int, count: int) -> None:
        rng = self.rng
        rand = rng.random
        add = self.totals.add
        step = 0
        run = ""
        user = team = purpose = ""
        for offset in day_offsets(rng, count):
            if step == 0 or rand() < 0.05:
                self.runs += 1
                run = f"run_{self.runs:08x}{_hex(rng, 8)}"
                step = 0
                user = USERS[int(rand() * len(USERS))]
                team = ("web", "platform", "mobile")[int(rand() * 3)]
                purpose = ("refactoring", "test-generation", "code-review")[int(rand() * 3)]
            step += 1
            raw, shape = self.agent_pick()
            model = MODELS[raw]
            ident = self.ids.next()
            prompt = _tokens(rng, model.prompt, 50, 900_000)
            output = _tokens(rng, model.output, 1, 64_000)
            meta = (
                f'{{"timestamp":"{iso_ms(day, offset)}","metadata":{{"user":"{user}",'
                f'"team":"{team}","project":"monorepo","purpose":"{purpose}",'
                f'"environment":"dev","app":"forge-agent","key_name":"forge-{team}",'
                f'"run_id":"{run}","step":{step}}},"response":'
            )
            reasoning = write = 0
            if shape == "anthropic":
                cached = int(prompt * 0.8 * rand()) if step > 1 else 0
                write = int((prompt - cached) * 0.7)
                fresh = prompt - cached - write
                body = (
                    f'{{"id":"msg_01{Ids.token(ident, 22)}","type":"message",'
                    f'"role":"assistant","model":"{raw}","stop_reason":"tool_use",'
                    f'"stop_sequence":null,"usage":{{"input_tokens":{fresh},'
                    f'"cache_creation_input_tokens":{write},"cache_read_input_tokens":{cached},'
                    f'"output_tokens":{output},"service_tier":"standard"}}}}}}\n'
                )
            elif shape == "responses":
                cached = int(prompt * 0.5 * rand())
                fresh = prompt - cached
                reasoning = int(output * 0.6 * rand())
                body = (
                    f'{{"id":"resp_{ident:016x}{_splitmix(ident):016x}","object":"response",'
                    f'"created_at":{1780272000 + day * 86400 + offset // 1000},'
                    f'"status":"completed","model":"{raw}","usage":{{"input_tokens":{prompt},'
                    f'"input_tokens_details":{{"cached_tokens":{cached}}},'
                    f'"output_tokens":{output},'
                    f'"output_tokens_details":{{"reasoning_tokens":{reasoning}}},'
                    f'"total_tokens":{prompt + output}}}}}}}\n'
                )
            else:
                cached = int(prompt * 0.5 * rand()) if rand() < 0.5 else 0
                fresh = prompt - cached
                body = (
                    f'{{"id":"chatcmpl-{Ids.token(ident, 29)}",'
                    f'"object":"chat.completion",'
                    f'"created":{1780272000 + day * 86400 + offset // 1000},"model":"{raw}",'
                    f'"usage":{{"prompt_tokens":{prompt},"completion_tokens":{output},'
                    f'"total_tokens":{prompt + output},'
                    f'"prompt_tokens_details":{{"cached_tokens":{cached}}},'
                    f'"completion_tokens_details":{{"reasoning_tokens":0}}}}}}}}\n'
                )
            handle.write(meta + body)
            add(
                raw,
                requests=1,
                errors=0,
                input_tokens=fresh,
                cached_input_tokens=cached,
                cache_write_tokens=write,
                output_tokens=output,
                reasoning_tokens=reasoning,
                reported_cost_pico=0,
            )


def generate_jsonl(out: Path, requests: int, seed: int, files: int | None) -> dict[str, object]:
    del files  # the layout is fixed: one gateway and one agent log per day
    rng = random.Random(seed)
    writer = JsonlWriter(rng, seed)
    written = []
    for relative, day, count in writer.files(requests):
        path = out / INPUT["jsonl"] / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", buffering=BUFFER, newline="\n") as handle:
            if relative.startswith("gateway/"):
                writer.write_gateway(handle, day, count)
            else:
                writer.write_agent(handle, day, count)
        written.append(relative)
    totals = writer.totals
    return _summary(totals, written, requests, lines=requests)


# ----------------------------------------------------------------------------- OpenRouter CSV

OPENROUTER_HEADER = (
    "generation_id,created_at,cost_total,cost_web_search,cost_cache,cost_file_processing,"
    "byok_usage_inference,tokens_prompt,tokens_completion,tokens_reasoning,tokens_cached,"
    "model_permaslug,provider_name,variant,cancelled,streamed,user,finish_reason_raw,"
    "finish_reason_normalized,generation_time_ms,time_to_first_token_ms,api_key_disabled,"
    "api_key_name,app_name"
)
OR_MODELS = (
    ("claude-sonnet-4-6", 0.22),
    ("claude-haiku-4-5-20251001", 0.12),
    ("claude-opus-4-8", 0.05),
    ("gpt-5.5-2026-04-23", 0.08),
    ("gpt-5.4-mini-2026-03-17", 0.15),
    ("gpt-4o-mini-2024-07-18", 0.1),
    ("gemini-2.5-flash", 0.15),
    ("gemini-2.5-pro", 0.06),
    ("FREE", 0.03),
    ("grok-4", 0.04),
)
OR_FREE_SLUG = "deepseek/deepseek-chat-v3.1"
OR_APPS = (
    ("chat-frontend", "prod-frontend", 0.45),
    ("nightly-eval", "eval-runner", 0.2),
    ("research-notebook", "research", 0.15),
    ("content-pipeline", "content-prod", 0.2),
)
FINISH = {"anthropic": ("end_turn", "stop"), "openai": ("stop", "stop"), "google": ("STOP", "stop")}


def generate_openrouter(
    out: Path, requests: int, seed: int, files: int | None
) -> dict[str, object]:
    rng = random.Random(seed)
    rand = rng.random
    totals = Totals()
    ids = Ids(seed, 2)
    files = files or 1
    model_pick = picker(rng, list(OR_MODELS))
    app_pick = picker(rng, [((a, k), w) for a, k, w in OR_APPS])
    day_counts = split_counts(requests, day_weights(rng))
    # Consecutive days per file (a user exporting the month in a few downloads).
    bounds = split_counts(DAYS, [1.0] * files)
    written = []
    (out / INPUT["openrouter"]).mkdir()
    day = 0
    for index, ndays in enumerate(bounds):
        name = (
            f"openrouter_generations_{MONTH}_part{index + 1:02d}.csv"
            if files > 1
            else (f"openrouter_generations_{MONTH}.csv")
        )
        with (out / INPUT["openrouter"] / name).open(
            "w", encoding="utf-8", buffering=BUFFER, newline=""
        ) as handle:
            handle.write(OPENROUTER_HEADER + "\n")
            for _ in range(ndays):
                for offset in day_offsets(rng, day_counts[day]):
                    raw: str = model_pick()
                    free = raw == "FREE"
                    model = MODELS["gpt-4o-mini-2024-07-18" if free else raw]
                    app, key_name = app_pick()
                    ident = ids.next()
                    epoch = 1780272000 + day * 86400 + offset // 1000
                    gen_id = f"gen-{epoch}-{Ids.token(ident, 16)}"
                    secs, ms = divmod(offset, 1000)
                    minutes, s = divmod(secs, 60)
                    h, m = divmod(minutes, 60)
                    created = f"{MONTH}-{day + 1:02d} {h:02d}:{m:02d}:{s:02d}.{ms:03d}"
                    roll = rand()
                    failed = roll < 0.03
                    cancelled = 0.03 <= roll < 0.04
                    if failed:
                        prompt = cached = output = reasoning = 0
                    else:
                        prompt = _tokens(rng, model.prompt, 20, 900_000)
                        cached = int(prompt * model.caching * rand()) if rand() < 0.5 else 0
                        output = _tokens(rng, model.output, 1, 64_000)
                        if cancelled:
                            output = int(output * rand())
                        reasoning = int(output * model.reasoning * rand())
                    if free:
                        pico = 0
                        slug, host, variant = OR_FREE_SLUG, "DeepInfra", "free"
                    else:
                        r_in, r_cached, _w, r_out = PICO_RATES[raw]
                        pico = (prompt - cached) * r_in + cached * r_cached + output * r_out
                        pico = _rounded_pico(pico, 7)
                        slug, host, variant = model.slug, model.host, "standard"
                    finish_raw, finish = FINISH.get(model.provider, ("stop", "stop"))
                    if failed:
                        finish_raw, finish = "error", "error"
                    elif rand() < 0.02:
                        finish_raw, finish = "length", "length"
                    user = USERS[int(rand() * len(USERS))] if app == "chat-frontend" else app
                    latency = int(300 + output * (8 + 10 * rand()))
                    handle.write(
                        f"{gen_id},{created},{_cost_text(pico)},0,0,0,0,{prompt},{output},"
                        f"{reasoning},{cached},{slug},{host},{variant},"
                        f"{'true' if cancelled else 'false'},{'true' if rand() < 0.7 else 'false'},"
                        f"{user},{finish_raw},{finish},{latency},{int(latency * 0.2)},false,"
                        f"{key_name},{app}\n"
                    )
                    totals.add(
                        slug + (":free" if free else ""),
                        requests=1,
                        errors=int(failed),
                        cancelled=int(cancelled),
                        input_tokens=prompt - cached,
                        cached_input_tokens=cached,
                        cache_write_tokens=0,
                        output_tokens=output,
                        reasoning_tokens=reasoning,
                        reported_cost_pico=pico,
                    )
                day += 1
        written.append(name)
    return _summary(totals, written, requests, lines=requests + len(written))


# ----------------------------------------------------------------------------- Claude Code

CC_VERSION = "2.1.63"
CC_MODELS = (("claude-sonnet-4-6", 0.6), ("claude-opus-4-8", 0.25), ("claude-haiku-4-5", 0.15))
CC_TOOLS = ("Read", "Edit", "Bash", "Grep", "Glob", "Write", "TodoWrite")
CC_PEOPLE = ("alice", "bob", "carol", "dave")
CC_REPOS = (
    "web-app", "billing-service", "infra", "mobile", "data-pipeline", "design-system",
    "auth-gateway", "docs",
)  # fmt: skip


_WORDS = (
    "the", "function", "returns", "a", "value", "when", "the", "request", "is", "handled", "by",
    "the", "server", "and", "the", "test", "checks", "that", "config", "import", "module", "class",
    "def", "return", "self", "none", "true", "false", "error", "file", "line", "path", "src",
    "lib", "util", "parse", "build", "run", "assert", "expect", "mock", "fixture", "value", "key",
    "list", "map", "async", "await", "promise", "const", "let", "var", "export", "default",
    "interface", "type", "props", "state", "render", "component", "query", "select", "from",
    "where", "join", "group", "order", "limit", "insert", "update", "delete", "index",
)  # fmt: skip


def _placeholder_pool(rng: random.Random, size: int = 1 << 17) -> str:
    """Plain words (no quotes or backslashes): slices of it are always valid JSON strings."""
    words = _WORDS
    out: list[str] = []
    total = 0
    while total < size:
        word = words[int(rng.random() * len(words))]
        if rng.random() < 0.08:
            word += "."
        elif rng.random() < 0.05:
            word = f"({word})"
        out.append(word)
        total += len(word) + 1
    return " ".join(out)


class ClaudeCodeWriter:
    """Sessions of a Claude Code tree; every API message is 2-4 lines sharing one usage."""

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.totals = Totals()
        self.ids = Ids(seed, 3)
        self.pool = _placeholder_pool(rng)
        self.model_pick = picker(rng, list(CC_MODELS))
        self.lines = 0
        self.assistant_lines = 0

    def text(self, low: int, high: int) -> str:
        length = low + int(self.rng.random() * (high - low))
        start = int(self.rng.random() * (len(self.pool) - length))
        return self.pool[start : start + length].strip()

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def session(
        self,
        handle: TextIO,
        *,
        cwd: str,
        session_id: str,
        start_ms: int,
        messages: int,
        sidechain: bool = False,
        agent_id: str = "",
    ) -> int:
        """Write one transcript; returns its end time (ms since the month start)."""
        rng = self.rng
        rand = rng.random
        now = start_ms
        parent = "null"
        branch = ("main", "feature/billing", "fix/login", "develop")[int(rand() * 4)]
        common = (
            f'"isSidechain":{"true" if sidechain else "false"},"userType":"external",'
            f'"cwd":"{cwd}","sessionId":"{session_id}","version":"{CC_VERSION}",'
            f'"gitBranch":"{branch}"' + (f',"agentId":"{agent_id}"' if agent_id else "")
        )
        model = "claude-haiku-4-5" if sidechain and rand() < 0.5 else str(self.model_pick())
        ttl_1h = rand() < 0.8
        context = 12_000 + int(rand() * 8000)  # system prompt and tools
        pending_tool = ""
        write = handle.write
        if not sidechain and rand() < 0.3:
            write(
                f'{{"type":"summary","summary":"{self.text(40, 120)}",'
                f'"leafUuid":"{self.uuid()}"}}\n'
            )
            self.lines += 1
        for _ in range(messages):
            # The user's turn: a prompt (with a file-history snapshot) or a tool result.
            stamp = self._stamp(now)
            uid = self.uuid()
            if pending_tool:
                result = self.text(800, 6000)
                write(
                    f'{{"parentUuid":{parent},{common},"type":"user","message":{{"role":"user",'
                    f'"content":[{{"tool_use_id":"{pending_tool}","type":"tool_result",'
                    f'"content":"{result}","is_error":false}}]}},"uuid":"{uid}",'
                    f'"timestamp":"{stamp}","toolUseResult":{{"stdout":"{result[:400]}",'
                    f'"stderr":"","interrupted":false}}}}\n'
                )
                added = len(result) // 4 + 20
            else:
                prompt = self.text(60, 900)
                if not sidechain:
                    write(
                        f'{{"type":"file-history-snapshot","messageId":"{uid}","snapshot":'
                        f'{{"messageId":"{uid}","trackedFileBackups":{{"src/app.ts":'
                        f'{{"backupFileName":"{_hex(rng, 16)}@v2","version":2,'
                        f'"backupTime":"{stamp}"}},"notes":"{self.text(500, 3000)}"}},'
                        f'"timestamp":"{stamp}"}},"isSnapshotUpdate":false}}\n'
                    )
                    self.lines += 1
                write(
                    f'{{"parentUuid":{parent},{common},"type":"user","message":{{"role":"user",'
                    f'"content":"{prompt}"}},"uuid":"{uid}","timestamp":"{stamp}",'
                    f'"thinkingMetadata":{{"level":"high","disabled":false,"triggers":[]}}}}\n'
                )
                added = len(prompt) // 4 + 10
            self.lines += 1
            parent = f'"{uid}"'
            now += 1000 + int(rand() * 20_000)
            # The assistant's answer: one API message written as one line per content block.
            ident = self.ids.next()
            message_id = f"msg_01{Ids.token(ident, 22)}"
            request_id = f"req_011C{Ids.token(_splitmix(ident ^ 0x5A5A), 20)}"
            blocks = 2 + (rand() < 0.45) + (rand() < 0.2)
            kinds = ["thinking"] if model != "claude-haiku-4-5" and rand() < 0.6 else []
            kinds.append("text")
            while len(kinds) < blocks:
                kinds.append("tool_use")
            ends_with_tool = kinds[-1] == "tool_use"
            fresh = 1 + int(rand() * 8)
            creation = added + int(rand() * 1500)
            if context > 160_000:  # auto-compaction: the cache starts over
                context = 15_000
                creation += 15_000
            cache_read = context
            context += creation
            output = _tokens(rng, (6.0, 0.9), 8, 32_000)
            five, hour = (0, creation) if ttl_1h else (creation, 0)
            pending_tool = ""
            for position, kind in enumerate(kinds):
                last = position == len(kinds) - 1
                shown = output if last else max(1, int(output * (0.02 + 0.5 * rand())))
                if kind == "thinking":
                    block = (
                        f'{{"type":"thinking","thinking":"{self.text(300, 2500)}",'
                        f'"signature":"Eu{_hex(rng, 120)}"}}'
                    )
                elif kind == "text":
                    block = f'{{"type":"text","text":"{self.text(100, 1800)}"}}'
                else:
                    tool_id = f"toolu_01{b62(rng.getrandbits(64), 11)}{b62(ident, 11)}"
                    tool = CC_TOOLS[int(rand() * len(CC_TOOLS))]
                    block = (
                        f'{{"type":"tool_use","id":"{tool_id}","name":"{tool}","input":'
                        f'{{"file_path":"{cwd}/src/{self.text(5, 20).replace(" ", "_")}.ts",'
                        f'"description":"{self.text(20, 200)}"}}}}'
                    )
                    pending_tool = tool_id
                stop = "null" if not last else ('"tool_use"' if ends_with_tool else '"end_turn"')
                uid = self.uuid()
                write(
                    f'{{"parentUuid":{parent},{common},"message":{{"model":"{model}",'
                    f'"id":"{message_id}","type":"message","role":"assistant","content":[{block}],'
                    f'"stop_reason":{stop},"stop_sequence":null,"usage":{{"input_tokens":{fresh},'
                    f'"cache_creation_input_tokens":{creation},'
                    f'"cache_read_input_tokens":{cache_read},"cache_creation":'
                    f'{{"ephemeral_5m_input_tokens":{five},"ephemeral_1h_input_tokens":{hour}}},'
                    f'"output_tokens":{shown},"service_tier":"standard"}}}},'
                    f'"requestId":"{request_id}","type":"assistant","uuid":"{uid}",'
                    f'"timestamp":"{self._stamp(now)}"}}\n'
                )
                self.lines += 1
                self.assistant_lines += 1
                parent = f'"{uid}"'
                now += 200 + int(rand() * 3000)
            self.totals.add(
                model,
                requests=1,
                input_tokens=fresh,
                output_tokens=output,
                cache_creation_tokens=creation,
                cache_read_tokens=cache_read,
                cache_write_1h_tokens=hour,
            )
        return now

    @staticmethod
    def _stamp(offset_ms: int) -> str:
        day, rest = divmod(offset_ms, DAY_MS)
        return iso_ms(day, rest)


def generate_claude_code(
    out: Path, requests: int, seed: int, files: int | None
) -> dict[str, object]:
    del files  # sessions decide the file count
    rng = random.Random(seed)
    rand = rng.random
    writer = ClaudeCodeWriter(rng, seed)
    projects = []
    for person in CC_PEOPLE:
        for repo in CC_REPOS:
            if rand() < 0.7:
                cwd = f"/home/{person}/src/{repo}"
                projects.append((cwd, cwd.replace("/", "-").replace(".", "-")))
    remaining = requests
    written = []
    latest_start = (DAYS * DAY_MS) - 8 * 3_600_000  # sessions end inside the month
    while remaining > 0:
        cwd, encoded = projects[int(rand() * len(projects))]
        count = min(remaining, max(3, min(400, int(rng.lognormvariate(4.1, 0.8)))))
        subagent = min(remaining - count, 5 + int(rand() * 35)) if rand() < 0.12 else 0
        session_id = writer.uuid()
        start = int(rand() * latest_start)
        folder = out / "projects" / encoded
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{session_id}.jsonl"
        with path.open("w", encoding="utf-8", buffering=BUFFER, newline="\n") as handle:
            writer.session(handle, cwd=cwd, session_id=session_id, start_ms=start, messages=count)
        written.append(str(path.relative_to(out)))
        remaining -= count
        if subagent > 0:
            agent_id = _hex(rng, 8)
            sub = folder / session_id / "subagents" / f"agent-{agent_id}.jsonl"
            sub.parent.mkdir(parents=True, exist_ok=True)
            with sub.open("w", encoding="utf-8", buffering=BUFFER, newline="\n") as handle:
                writer.session(
                    handle,
                    cwd=cwd,
                    session_id=session_id,
                    start_ms=start + int(rand() * 600_000),
                    messages=subagent,
                    sidechain=True,
                    agent_id=agent_id,
                )
            written.append(str(sub.relative_to(out)))
            remaining -= subagent
    summary = _summary(writer.totals, written, requests, lines=writer.lines)
    summary["assistant_lines"] = writer.assistant_lines
    return summary


# ----------------------------------------------------------------------------- driver


def _summary(totals: Totals, written: list[str], requests: int, *, lines: int) -> dict[str, object]:
    values: dict[str, object] = dict(totals.values)
    pico = totals.values.get("reported_cost_pico")
    if pico is not None:
        del values["reported_cost_pico"]
        values["reported_cost_usd"] = _cost_text(pico, 12)
    by_model: dict[str, dict[str, object]] = {}
    for model, counts in sorted(totals.by_model.items()):
        slot: dict[str, object] = dict(counts)
        model_pico = counts.get("reported_cost_pico")
        if model_pico is not None:
            del slot["reported_cost_pico"]
            slot["reported_cost_usd"] = _cost_text(model_pico, 12)
        by_model[model] = slot
    return {
        "requests": requests,
        "lines": lines,
        "files": len(written),
        "totals": values,
        "by_model": by_model,
    }


KINDS = {
    "jsonl": generate_jsonl,
    "openrouter": generate_openrouter,
    "claude-code": generate_claude_code,
}


def generate(kind: str, requests: int, out: Path, seed: int = 1, files: int | None = None) -> dict:
    """Write the export into ``out`` (emptied first) and return the expected totals."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.perf_counter()
    summary = KINDS[kind](out, requests, seed, files)
    size = sum(p.stat().st_size for p in (out / INPUT[kind]).rglob("*") if p.is_file())
    expected = {
        "kind": kind,
        "month": MONTH,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "input": INPUT[kind],
        **summary,
        "bytes": size,
    }
    # Written last: its presence marks a complete data set (run.py reuses complete ones).
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    expected["seconds"] = round(time.perf_counter() - started, 1)
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--requests", required=True, help="e.g. 100k, 1M, 10M (messages for CC)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (emptied first)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=None, help="openrouter: number of CSVs")
    args = parser.parse_args(argv)
    expected = generate(args.kind, parse_count(args.requests), args.out, args.seed, args.files)
    json.dump(expected, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
