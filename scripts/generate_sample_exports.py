#!/usr/bin/env python3
"""Generate deterministic sample exports: June 2026 of a fictional company's LLM traffic.

A smaller May 2026 (the previous month, so reports have a month over month) comes from its own
RNG, through fewer exports; see the May section of the scenario.

The script has four parts, in this order:

1. **Scenario** - people, API keys, models with their June-2026 list prices, and *streams*
   (who calls which model, through which channel, for what purpose, at what rhythm).
2. **Request generator** - turns the scenario into a list of ``Request`` events. It is pure:
   every random choice comes from one ``random.Random(seed)``, there is no wall clock, and the
   same seed and size always give the same events. The planted waste patterns are made here.
3. **Writers** - one function per export format, each turning the events into one file (or
   one folder tree). A new format is one more ``Output`` in ``WRITERS``. Request-level
   writers each take the requests of their *channel* (every request is in exactly one
   request-level source, except the deliberate overlaps, which share ids); billing writers
   aggregate what each provider billed per UTC day with the same Decimal list prices, plus
   Anthropic traffic no log covers (``unlogged_requests``).
4. **Expected report** - ``layers`` computes billed and logged spend per provider and day and
   the total a correct ``tokaudit report`` must show; the generated README states it.

Usage::

    python scripts/generate_sample_exports.py              # writes sample_exports/
    python scripts/generate_sample_exports.py --out DIR --seed N --requests N
    python scripts/generate_sample_exports.py --check      # exit 1 if sample_exports/ is stale

Standard library only. It deliberately does not import the ``audit`` package: the samples are
an independent oracle for it (costs here come from public list prices hard-coded below).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path

# ════════════════════════════════════════════════════════════════════════════════════════
# 1. Scenario
# ════════════════════════════════════════════════════════════════════════════════════════

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000


@dataclass(frozen=True)
class Period:
    """A calendar month of the sample.

    Day indexes count from 2026-06-01 for both months (June is 0..29, May -31..-1), so one
    index space serves every writer; ``local`` turns one into the position within the month.
    """

    label: str  # "2026-06"
    first: date
    days: int
    quiet_end_ms: int = 0  # no traffic starts in the month's last moments (time-zone edges)
    crunch: tuple[int, int] | None = None  # release week (days of the month, 0-based)
    prompt_salt: str = ""  # keeps prompt hashes of different months apart
    counter_shift: tuple[tuple[str, int], ...] = ()  # ticket / PR / CI-run numbers before June's

    @property
    def start_ms(self) -> int:
        first = datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)
        return int(first.timestamp()) * 1000

    @property
    def end_ms(self) -> int:
        """The end of the month's traffic (exclusive)."""
        return self.start_ms + self.days * DAY_MS - self.quiet_end_ms

    @property
    def offset(self) -> int:
        """Day index of the month's first day."""
        return (self.first - JUNE_FIRST).days

    @property
    def day_indexes(self) -> range:
        return range(self.offset, self.offset + self.days)

    def local(self, day: int) -> int:
        return day - self.offset


JUNE_FIRST = date(2026, 6, 1)
JUNE = Period("2026-06", JUNE_FIRST, 30, crunch=(21, 25))  # release week June 22-26
MAY = Period(
    "2026-05",
    date(2026, 5, 1),
    31,
    quiet_end_ms=HOUR_MS,  # nothing in May's last hour, so no report time zone moves it to June
    prompt_salt="2026-05-",
    counter_shift=(("ticket", -560), ("pr", -70), ("ci", -35)),
)
MONTH = JUNE.label  # June is the sample's main month; these name it for its writers
DAYS = JUNE.days
START_MS = JUNE.start_ms
END_MS = JUNE.end_ms
DEFAULT_SEED = 20260601
DEFAULT_REQUESTS = 5800
COMPANY = "Acme Robotics (fictional)"
EMAIL_DOMAIN = "acme.example"
MILLION = Decimal(1_000_000)
USD_STEP = Decimal("1e-10")
GATEWAY_VERSION = "llm-gw/2.3.1"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Person:
    handle: str
    name: str
    team: str
    utc_offset: int  # hours, June (summer time)
    city: str

    @property
    def first(self) -> str:
        return self.name.split()[0].lower()

    @property
    def email(self) -> str:
        first, last = self.name.lower().split()
        return f"{first}.{last}@{EMAIL_DOMAIN}"


PEOPLE: tuple[Person, ...] = (
    Person("amartin", "Alice Martin", "web", 2, "Berlin"),
    Person("bokafor", "Bob Okafor", "platform", 2, "Berlin"),
    Person("cnguyen", "Carol Nguyen", "data", -4, "New York"),
    Person("dvolkov", "Dmitri Volkov", "platform", 2, "Berlin"),
    Person("ewalsh", "Erin Walsh", "web", 1, "Dublin"),
    Person("fhaddad", "Farah Haddad", "support-tools", 2, "Berlin"),
    Person("gpereira", "Gustavo Pereira", "data", -3, "Sao Paulo"),
    Person("hsato", "Hana Sato", "web", 2, "Berlin"),
    Person("ipetrov", "Ivan Petrov", "platform", 3, "Sofia"),
    Person("jbecker", "Julia Becker", "support-tools", 2, "Berlin"),
)
PERSON = {p.first: p for p in PEOPLE}
TEAM_PROJECT = {
    "web": "monorepo",
    "platform": "monorepo",
    "data": "search",
    "support-tools": "helpdesk",
}


@dataclass(frozen=True)
class ApiKey:
    name: str
    environment: str  # production | staging | dev | ci
    owner: str  # person handle, service name, or "" (nobody)
    system: str  # the tool the key is used through (openrouter, gateway, litellm, helicone, …)
    disabled: bool = False

    @property
    def key_id(self) -> str:
        short = {"production": "prod", "staging": "stg", "dev": "dev", "ci": "ci"}[self.environment]
        return f"key_{short}_{hashlib.sha256(self.name.encode()).hexdigest()[:4]}"


CC_USERS = ("dmitri", "erin", "carol", "julia")  # people using Claude Code (billed by Anthropic)


def claude_code_key(first: str) -> str:
    """The Anthropic key name Claude Code creates for a user (``claude_code_key_<user>_xxxx``)."""
    return f"claude_code_key_{first}_{hashlib.sha256(first.encode()).hexdigest()[:4]}"


KEYS: dict[str, ApiKey] = {
    k.name: k
    for k in (
        # OpenRouter keys (people's laptop tools and two services)
        ApiKey("alice-laptop", "dev", "amartin", "openrouter"),
        ApiKey("bob-laptop", "dev", "bokafor", "openrouter"),
        ApiKey("carol-openwebui", "dev", "cnguyen", "openrouter"),
        ApiKey("farah-laptop", "dev", "fhaddad", "openrouter"),
        ApiKey("gustavo-aider", "dev", "gpereira", "openrouter"),
        ApiKey("hana-roo", "dev", "hsato", "openrouter"),
        ApiKey("ivan-old-macbook", "dev", "ipetrov", "openrouter", disabled=True),
        ApiKey("ivan-laptop", "dev", "ipetrov", "openrouter"),
        ApiKey("julia-openwebui", "dev", "jbecker", "openrouter"),
        ApiKey("eval-runner", "ci", "nightly-eval", "langfuse"),
        ApiKey("docs-bot-prod", "production", "docs-bot", "openrouter"),
        # company gateway keys
        *(ApiKey(f"{p.first}-ide", "dev", p.handle, "gateway") for p in PEOPLE),
        ApiKey("code-review-bot-ci", "ci", "code-review-bot", "gateway"),
        ApiKey("ci-runner", "ci", "ci-pipeline", "gateway"),
        ApiKey("proto-experiment-2025", "dev", "", "gateway"),
        # Helicone (support-bot) and LiteLLM proxy virtual keys (rag-search)
        ApiKey("support-bot-prod", "production", "support-bot", "helicone"),
        ApiKey("support-bot-staging", "staging", "support-bot", "helicone"),
        ApiKey("prod-backend", "production", "rag-search", "litellm"),
        ApiKey("staging-backend", "staging", "rag-search", "litellm"),
        # small services with their own logging
        ApiKey("triage-canary", "production", "triage-classifier", "csv-logger"),
        ApiKey("release-notes-bot", "ci", "release-notes-bot", "csv-logger"),
        ApiKey("copy-studio-prod", "production", "copy-studio", "portkey"),
        ApiKey("doc-intake-task-role", "production", "doc-intake", "bedrock"),
        # provider keys used by the internal agent (logged as raw response objects)
        *(
            ApiKey(f"forge-{n}", "dev", PERSON[n].handle, "openai+anthropic")
            for n in ("alice", "bob", "gustavo", "hana", "ivan")
        ),
        # Anthropic keys Claude Code creates per user, and one key no log covers
        *(ApiKey(claude_code_key(n), "dev", PERSON[n].handle, "claude-code") for n in CC_USERS),
        ApiKey("legacy-batch-key", "production", "", "anthropic"),
    )
}


@dataclass(frozen=True)
class Price:
    """List price in USD per 1M tokens (public list prices, period covering June 2026)."""

    input: Decimal
    output: Decimal
    cached: Decimal
    write_5m: Decimal = Decimal(0)
    write_1h: Decimal = Decimal(0)


def _price(inp: str, out: str, cached: str, w5: str = "0", w1: str = "0") -> Price:
    return Price(Decimal(inp), Decimal(out), Decimal(cached), Decimal(w5), Decimal(w1))


@dataclass(frozen=True)
class Model:
    key: str  # canonical id
    vendor: str  # openai | anthropic | google | deepseek | mistral | self-hosted
    api_id: str  # the id a caller sends by default
    snapshot: str  # the id the provider echoes back in a raw response
    or_slug: str | None  # OpenRouter slug (activity CSV)
    or_permaslug: str | None  # OpenRouter permaslug (generations CSV)
    or_providers: tuple[tuple[str, float], ...]
    price: Price | None
    reasoning: str  # never | sometimes | always | effort
    premium: bool
    tps: int  # output tokens per second
    ttft_ms: int
    min_cache: int = 1024  # smallest cacheable prefix


ANTHROPIC_HOSTS = (("Anthropic", 0.8), ("Google Vertex", 0.12), ("Amazon Bedrock", 0.08))
OPENAI_HOSTS = (("OpenAI", 0.95), ("Azure", 0.05))
GOOGLE_HOSTS = (("Google AI Studio", 0.7), ("Google Vertex", 0.3))

MODELS: dict[str, Model] = {
    m.key: m
    for m in (
        Model(
            "claude-opus-4-8",
            "anthropic",
            "claude-opus-4-8",
            "claude-opus-4-8",
            "anthropic/claude-opus-4.8",
            "anthropic/claude-opus-4.8",
            ANTHROPIC_HOSTS,
            _price("5", "25", "0.5", "6.25", "10"),
            "never",
            True,
            45,
            1400,
            4096,
        ),
        Model(
            "claude-sonnet-4-6",
            "anthropic",
            "claude-sonnet-4-6",
            "claude-sonnet-4-6",
            "anthropic/claude-sonnet-4.6",
            "anthropic/claude-4.6-sonnet-20260217",
            ANTHROPIC_HOSTS,
            _price("3", "15", "0.3", "3.75", "6"),
            "never",
            False,
            70,
            900,
            1024,
        ),
        Model(
            "claude-haiku-4-5",
            "anthropic",
            "claude-haiku-4-5",
            "claude-haiku-4-5-20251001",
            "anthropic/claude-haiku-4.5",
            "anthropic/claude-4.5-haiku-20251001",
            ANTHROPIC_HOSTS,
            _price("1", "5", "0.1", "1.25", "2"),
            "never",
            False,
            140,
            450,
            4096,
        ),
        Model(
            "gpt-5.5",
            "openai",
            "gpt-5.5",
            "gpt-5.5-2026-04-23",
            "openai/gpt-5.5",
            "openai/gpt-5.5-2026-04-23",
            OPENAI_HOSTS,
            _price("5", "30", "0.5"),
            "effort",
            True,
            60,
            1200,
        ),
        Model(
            "gpt-5.4-mini",
            "openai",
            "gpt-5.4-mini",
            "gpt-5.4-mini-2026-03-17",
            "openai/gpt-5.4-mini",
            "openai/gpt-5.4-mini-2026-03-17",
            OPENAI_HOSTS,
            _price("0.75", "4.5", "0.075"),
            "sometimes",
            False,
            150,
            500,
        ),
        Model(
            "gpt-4o-mini",
            "openai",
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "openai/gpt-4o-mini",
            "openai/gpt-4o-mini-2024-07-18",
            OPENAI_HOSTS,
            _price("0.15", "0.6", "0.075"),
            "never",
            False,
            110,
            350,
        ),
        Model(
            "gpt-4.1",
            "openai",
            "gpt-4.1",
            "gpt-4.1-2025-04-14",
            "openai/gpt-4.1",
            "openai/gpt-4.1-2025-04-14",
            OPENAI_HOSTS,
            _price("2", "8", "0.5"),
            "never",
            False,
            90,
            600,
        ),
        Model(
            "gemini-2.5-pro",
            "google",
            "gemini-2.5-pro",
            "gemini-2.5-pro",
            "google/gemini-2.5-pro",
            "google/gemini-2.5-pro",
            GOOGLE_HOSTS,
            _price("1.25", "10", "0.125"),
            "always",
            False,
            80,
            1800,
            4096,
        ),
        Model(
            "gemini-2.5-flash",
            "google",
            "gemini-2.5-flash",
            "gemini-2.5-flash",
            "google/gemini-2.5-flash",
            "google/gemini-2.5-flash",
            GOOGLE_HOSTS,
            _price("0.3", "2.5", "0.03"),
            "sometimes",
            False,
            200,
            500,
        ),
        Model(
            "deepseek-v4-flash",
            "deepseek",
            "deepseek-v4-flash",
            "deepseek-v4-flash",
            "deepseek/deepseek-v4-flash",
            "deepseek/deepseek-v4-flash",
            (("DeepSeek", 1.0),),
            _price("0.14", "0.28", "0.0028"),
            "sometimes",
            False,
            70,
            900,
            64,
        ),
        Model(
            "mistral-large-2512",
            "mistral",
            "mistral-large-latest",
            "mistral-large-2512",
            "mistralai/mistral-large-2512",
            "mistralai/mistral-large-2512",
            (("Mistral", 1.0),),
            _price("0.5", "1.5", "0.05"),
            "never",
            False,
            75,
            500,
            10**9,
        ),
        Model(
            "acme/llama-ft-support-v3",
            "self-hosted",
            "acme/llama-ft-support-v3",
            "acme/llama-ft-support-v3",
            None,
            None,
            (),
            None,
            "never",
            False,
            90,
            250,
            10**9,
        ),
    )
}

# Token shapes per purpose: (median, sigma, min, max) of a log-normal draw.
Spec = tuple[int, float, int, int]


@dataclass(frozen=True)
class Shape:
    body: Spec  # prompt tokens on top of the shared system prefix
    out: Spec  # visible output tokens
    think: bool  # does a reasoning model reason for this kind of task


SHAPES: dict[str, Shape] = {
    "autocomplete": Shape((850, 0.45, 150, 1850), (32, 0.7, 4, 140), False),
    "commit-message": Shape((1100, 0.5, 200, 1850), (45, 0.4, 12, 140), False),
    "code-review": Shape((6000, 0.6, 800, 40000), (600, 0.5, 80, 2500), True),
    "summarize": Shape((2400, 0.5, 400, 9000), (260, 0.3, 90, 520), False),
    "chat": Shape((1500, 0.8, 80, 12000), (420, 0.6, 20, 2500), True),
    "rag-answer": Shape((3900, 0.12, 3000, 5000), (260, 0.4, 60, 700), False),
    "test-generation": Shape((4500, 0.5, 800, 20000), (1400, 0.5, 200, 6000), True),
    "refactoring": Shape((9000, 0.6, 1500, 40000), (1600, 0.6, 150, 8000), True),
    "eval": Shape((2200, 0.5, 300, 9000), (350, 0.8, 10, 3000), True),
    "classification": Shape((700, 0.4, 150, 2500), (8, 0.4, 2, 30), False),
    "extraction": Shape((3000, 0.5, 600, 12000), (400, 0.5, 80, 1500), False),
    "copywriting": Shape((650, 0.45, 150, 1000), (450, 0.5, 120, 1500), False),
}
TOOL_TURN: Spec = (1500, 0.8, 100, 12000)  # tool result added per agent step
CHAT_TURN: Spec = (180, 0.8, 10, 3000)  # user message added per chat turn
AGENT_CONTEXT_CAP = 60_000  # agent sessions are compacted before they reach this

# Hour-of-day weights (index = hour, local time of the rhythm's utc_offset).
OFFICE_HOURS = (
    0.01,
    0.01,
    0.01,
    0.01,
    0.01,
    0.01,
    0.02,
    0.1,
    0.5,
    1.0,
    1.0,
    1.0,
    0.55,
    0.8,
    1.0,
    1.0,
    0.9,
    0.6,
    0.3,
    0.15,
    0.12,
    0.1,
    0.05,
    0.02,
)
BUSINESS_HOURS = (
    0.2,
    0.15,
    0.12,
    0.12,
    0.15,
    0.25,
    0.45,
    0.7,
    0.95,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    0.95,
    0.85,
    0.75,
    0.65,
    0.55,
    0.45,
    0.35,
    0.25,
)
CI_HOURS = (
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.05,
    0.15,
    0.6,
    1.0,
    1.0,
    1.0,
    0.8,
    1.0,
    1.0,
    1.0,
    1.0,
    0.8,
    0.5,
    0.3,
    0.2,
    0.1,
    0.05,
    0.03,
)


@dataclass(frozen=True)
class Rhythm:
    kind: str  # office | business | ci | nightly | cron
    utc_offset: int
    hours: tuple[float, ...]
    weekend: float  # weight of a Saturday/Sunday relative to a weekday
    crunch: bool  # busier in the release week (June 22-26)


def office(offset: int) -> Rhythm:
    return Rhythm("office", offset, OFFICE_HOURS, 0.07, True)


BUSINESS = Rhythm("business", 0, BUSINESS_HOURS, 0.5, False)
CI = Rhythm("ci", 2, CI_HOURS, 0.05, True)
NIGHTLY = Rhythm("nightly", 0, BUSINESS_HOURS, 1.0, False)
CRON = Rhythm("cron", 0, BUSINESS_HOURS, 1.0, False)


@dataclass(frozen=True)
class Route:
    """One kind of call a stream makes: a purpose, the models used for it, and its session shape."""

    purpose: str
    weight: float
    models: tuple[tuple[str, float], ...]
    session: tuple[int, int] = (1, 1)  # calls per session
    gap_s: tuple[int, int] = (20, 120)  # seconds between calls in a session
    prefix: int = 0  # shared system-prompt tokens
    prefix_id: str | None = None  # logged as metadata.prefix_hash when set


@dataclass(frozen=True)
class Stream:
    """A source of traffic: one caller, one key, one channel."""

    name: str
    channel: str  # the request-level source that logs it (see CHANNEL_FILES); a+b = both
    key: str
    volume: int  # requests at the default size (scaled to --requests unless fixed)
    rhythm: Rhythm
    routes: tuple[Route, ...]
    app: str | None
    service: str | None = None  # the service, for non-human callers
    user: str | None = None
    team: str | None = None
    project: str | None = None
    environment: str | None = None
    fixed: bool = False  # planted: not scaled with --requests
    pattern: str | None = None  # planted waste pattern this stream produces
    days: tuple[int, int] | None = None  # days of the month (0 = the 1st) it is active; None: all
    agentic: bool = False  # context grows within a session
    turn: Spec = TOOL_TURN
    explicit_cache: bool = False  # sets Anthropic cache_control
    cache_1h: bool = False  # caches its system prompt with the 1-hour TTL
    human: bool = False  # a person sees the answer (outcome recorded)
    streamed: float = 0.0
    error_rate: float = 0.012
    log_cost: bool = False  # the gateway writes cost_usd for this caller
    region: str = "eu-central-1"
    api_ids: tuple[tuple[str, str], ...] = ()  # model key -> id this caller sends
    extra: tuple[tuple[str, object], ...] = ()  # fixed metadata
    shape: Shape | None = None  # overrides the purpose's token shape
    sessions: int | None = None  # plan exactly this many sessions (full size) instead of volume
    old_key: tuple[int, str] | None = None  # (June day index, key) used before that day
    provider: str | None = None  # who bills the calls, when not the channel or model vendor
    gateway_omit: frozenset[str] = frozenset()  # fields the gateway JSONL does not log for it


# --- OpenRouter traffic: people's laptop tools and docs-bot ---------------------------------
CLINE_SYS = 11_000  # Cline-style system prompt
AIDER_SYS = 6_000  # Aider repo map + conventions
WEBUI_SYS = 300


def _laptop(
    first: str,
    app: str,
    key: str,
    volume: int,
    models: tuple[tuple[str, float], ...],
    old_key: tuple[int, str] | None = None,
) -> Stream:
    agentic_app = app in ("Cline", "Roo Code", "Aider")
    sys_tokens = CLINE_SYS if app in ("Cline", "Roo Code") else AIDER_SYS
    if agentic_app:
        routes = (
            Route("refactoring", 0.5, models, (4, 26), (6, 60), sys_tokens),
            Route("test-generation", 0.3, models, (3, 16), (6, 60), sys_tokens),
            Route("code-review", 0.2, models, (2, 8), (8, 90), sys_tokens),
        )
        turn = TOOL_TURN
    else:
        routes = (Route("chat", 1.0, models, (1, 6), (40, 300), WEBUI_SYS),)
        turn = CHAT_TURN
    p = PERSON[first]
    return Stream(
        name=f"openrouter/{first}-{app.lower().replace(' ', '-')}",
        channel="openrouter",
        key=key,
        volume=volume,
        rhythm=office(p.utc_offset),
        routes=routes,
        app=app,
        user=p.handle,
        team=p.team,
        project=TEAM_PROJECT[p.team],
        environment="dev",
        agentic=True,
        turn=turn,
        explicit_cache=True,
        human=True,
        streamed=0.97,
        error_rate=0.014,
        old_key=old_key,
    )


OPENROUTER_STREAMS: tuple[Stream, ...] = (
    _laptop(
        "alice",
        "Cline",
        "alice-laptop",
        280,
        (("claude-sonnet-4-6", 0.65), ("gpt-5.5", 0.2), ("gemini-2.5-pro", 0.15)),
    ),
    _laptop(
        "bob",
        "Cline",
        "bob-laptop",
        270,
        (("claude-sonnet-4-6", 0.5), ("claude-opus-4-8", 0.35), ("deepseek-v4-flash", 0.15)),
    ),
    _laptop(
        "hana",
        "Roo Code",
        "hana-roo",
        210,
        (("gemini-2.5-pro", 0.45), ("gemini-2.5-flash", 0.35), ("claude-sonnet-4-6", 0.2)),
    ),
    _laptop(
        "ivan",
        "Aider",
        "ivan-laptop",
        210,
        (("deepseek-v4-flash", 0.55), ("claude-sonnet-4-6", 0.3), ("gpt-4.1", 0.15)),
        old_key=(8, "ivan-old-macbook"),
    ),
    _laptop(
        "gustavo",
        "Aider",
        "gustavo-aider",
        150,
        (("gpt-4.1", 0.5), ("gemini-2.5-flash", 0.3), ("gpt-5.4-mini", 0.2)),
    ),
    _laptop(
        "farah",
        "Cline",
        "farah-laptop",
        170,
        (("claude-sonnet-4-6", 0.6), ("claude-haiku-4-5", 0.4)),
    ),
    _laptop(
        "carol",
        "Open WebUI",
        "carol-openwebui",
        140,
        (
            ("gpt-5.5", 0.35),
            ("claude-sonnet-4-6", 0.35),
            ("mistral-large-2512", 0.15),
            ("gemini-2.5-flash", 0.15),
        ),
    ),
    _laptop(
        "julia",
        "Open WebUI",
        "julia-openwebui",
        90,
        (("gpt-4o-mini", 0.5), ("claude-haiku-4-5", 0.5)),
    ),
)

# The nightly eval calls every provider directly and is traced in Langfuse.
NIGHTLY_EVAL = Stream(
    "langfuse/nightly-eval",
    "langfuse",
    "eval-runner",
    420,
    NIGHTLY,
    (
        Route(
            "eval",
            1.0,
            (
                ("gpt-5.5", 1),
                ("claude-sonnet-4-6", 1),
                ("gemini-2.5-pro", 1),
                ("deepseek-v4-flash", 1),
                ("mistral-large-2512", 1),
                ("gpt-4.1", 1),
                ("claude-haiku-4-5", 1),
            ),
            gap_s=(4, 15),
            prefix=600,
        ),
    ),
    app="nightly-eval",
    service="nightly-eval",
    user="nightly-eval",
    team="data",
    project="search",
    environment="ci",
    error_rate=0.01,
)

# docs-bot calls OpenRouter through the company gateway: each call is in BOTH sources.
DOCS_BOT = Stream(
    "openrouter+gateway/docs-bot",
    "openrouter+gateway",
    "docs-bot-prod",
    40,
    office(2),
    (
        Route(
            "rag-answer",
            0.7,
            (("claude-sonnet-4-6", 0.75), ("gemini-2.5-flash", 0.25)),
            (1, 2),
            (30, 200),
            2_100,
        ),
        Route(
            "chat",
            0.3,
            (("claude-sonnet-4-6", 0.75), ("gemini-2.5-flash", 0.25)),
            (1, 2),
            (30, 200),
            2_100,
        ),
    ),
    app="docs-bot",
    service="docs-bot",
    user="docs-bot",
    team="platform",
    project="docs",
    environment="production",
    fixed=True,
    pattern="double-logged",
    explicit_cache=True,
    error_rate=0.0,
    log_cost=True,
)

# --- Services: support-bot through Helicone, rag-search through the LiteLLM proxy, and the
# CI bots through the company gateway (all direct provider calls) --------------------------
SUPPORT_SYS = 4_300  # support-bot system prompt + few-shot examples
RAG_SYS = 1_150
CODE_REVIEW_SYS = 8_192
CODE_REVIEW_PREFIX = "code-review-system-v7"
SUPPORT_PREFIX = "support-summary-system-v13"
RAG_PREFIX = "rag-answer-system-claude-v5"

SERVICE_STREAMS: tuple[Stream, ...] = (
    Stream(
        "helicone/support-bot/summarize",
        "helicone",
        "support-bot-prod",
        500,
        BUSINESS,
        (
            Route(
                "summarize",
                1.0,
                (("claude-haiku-4-5", 1.0),),
                prefix=SUPPORT_SYS,
                prefix_id=SUPPORT_PREFIX,
            ),
        ),
        app="support-bot",
        service="support-bot",
        team="support-tools",
        project="helpdesk",
        environment="production",
        explicit_cache=True,
        log_cost=True,
        api_ids=(("claude-haiku-4-5", "claude-haiku-4-5-20251001"),),
        extra=(("prompt_version", "summary-v13"),),
    ),
    Stream(
        "helicone/support-bot/classify",
        "helicone",
        "support-bot-prod",
        160,
        BUSINESS,
        (Route("classification", 1.0, (("gpt-4o-mini", 1.0),), prefix=1_200),),
        app="support-bot",
        service="support-bot",
        team="support-tools",
        project="helpdesk",
        environment="production",
        log_cost=True,
        api_ids=(("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),),
    ),
    Stream(  # the staging org exports CSV, which has no cache columns: staging caches nothing
        "helicone-csv/support-bot/staging",
        "helicone-csv",
        "support-bot-staging",
        40,
        office(2),
        (Route("summarize", 1.0, (("claude-haiku-4-5", 1.0),), (1, 4), (20, 90), SUPPORT_SYS),),
        app="support-bot",
        service="support-bot",
        team="support-tools",
        project="helpdesk",
        environment="staging",
        error_rate=0.02,
        api_ids=(("claude-haiku-4-5", "claude-haiku-4-5-20251001"),),
        extra=(("prompt_version", "summary-v14-rc1"),),
    ),
    Stream(
        "litellm/rag-search/production",
        "litellm",
        "prod-backend",
        520,
        BUSINESS,
        (
            Route(
                "rag-answer",
                0.75,
                (("claude-sonnet-4-6", 1.0),),
                (1, 4),
                (20, 120),
                RAG_SYS,
                RAG_PREFIX,
            ),
            Route("rag-answer", 0.25, (("gpt-4.1", 1.0),), (1, 4), (20, 120), 900),
        ),
        app="rag-search",
        service="rag-search",
        team="data",
        project="search",
        environment="production",
        explicit_cache=True,
        log_cost=True,
        region="us-east-1",
        extra=(("top_k", 8),),
    ),
    Stream(
        "litellm/rag-search/staging",
        "litellm",
        "staging-backend",
        60,
        office(-3),
        (
            Route(
                "rag-answer",
                1.0,
                (("claude-sonnet-4-6", 0.5), ("gemini-2.5-flash", 0.5)),
                (1, 5),
                (10, 60),
                RAG_SYS,
            ),
        ),
        app="rag-search",
        service="rag-search",
        team="data",
        project="search",
        environment="staging",
        explicit_cache=True,
        error_rate=0.03,
        region="us-east-1",
        extra=(("top_k", 8),),
    ),
    Stream(
        "gateway/code-review-bot",
        "gateway",
        "code-review-bot-ci",
        250,
        CI,
        (
            Route(
                "code-review",
                1.0,
                (("claude-sonnet-4-6", 1.0),),
                (2, 5),
                (3, 25),
                CODE_REVIEW_SYS,
                CODE_REVIEW_PREFIX,
            ),
        ),
        app="code-review-bot",
        service="code-review-bot",
        team="platform",
        project="monorepo",
        environment="ci",
        explicit_cache=True,
        extra=(("bot_version", "2.2.4"),),
    ),
    Stream(
        "gateway/ci-pipeline",
        "gateway",
        "ci-runner",
        230,
        CI,
        (
            Route(
                "test-generation",
                0.8,
                (("gpt-5.4-mini", 0.6), ("deepseek-v4-flash", 0.4)),
                (3, 10),
                (2, 20),
                1_800,
            ),
            Route("classification", 0.2, (("gpt-4o-mini", 1.0),), (1, 3), (2, 10), 600),
        ),
        app="ci-pipeline",
        service="ci-pipeline",
        team="platform",
        project="monorepo",
        environment="ci",
        error_rate=0.01,
    ),
)

IDE_ROUTES = (
    Route(
        "autocomplete",
        0.55,
        (
            ("gpt-5.4-mini", 0.35),
            ("gpt-4o-mini", 0.2),
            ("mistral-large-2512", 0.25),
            ("claude-haiku-4-5", 0.2),
        ),
        (3, 15),
        (5, 90),
    ),
    Route(
        "commit-message",
        0.15,
        (("gpt-4o-mini", 0.5), ("claude-haiku-4-5", 0.3), ("deepseek-v4-flash", 0.2)),
    ),
    Route(
        "chat",
        0.30,
        (
            ("claude-sonnet-4-6", 0.45),
            ("gpt-5.5", 0.2),
            ("gemini-2.5-flash", 0.25),
            ("gpt-4.1", 0.1),
        ),
        (1, 4),
        (30, 240),
        1_400,
    ),
)


def _ide(first: str, volume: int) -> Stream:
    p = PERSON[first]
    return Stream(
        f"gateway/{first}-ide",
        "gateway",
        f"{first}-ide",
        volume,
        office(p.utc_offset),
        IDE_ROUTES,
        app="Continue",
        user=p.handle,
        team=p.team,
        project=TEAM_PROJECT[p.team],
        environment="dev",
        explicit_cache=True,
        human=True,
        region="us-east-1" if p.utc_offset < 0 else "eu-central-1",
    )


IDE_STREAMS: tuple[Stream, ...] = tuple(
    _ide(first, vol)
    for first, vol in (
        ("alice", 45),
        ("bob", 50),
        ("carol", 40),
        ("dmitri", 55),
        ("erin", 60),
        ("farah", 45),
        ("gustavo", 40),
        ("hana", 50),
        ("ivan", 55),
        ("julia", 40),
    )
)

# --- Internal agent ("forge-agent"), logged as raw provider response objects ---------------
FORGE_SYS = 12_000
FORGE_MODELS = (
    ("claude-sonnet-4-6", 0.45),
    ("gpt-5.5", 0.25),
    ("claude-opus-4-8", 0.1),
    ("gpt-4.1", 0.1),
    ("gpt-5.4-mini", 0.1),
)


def _forge(first: str, volume: int, cache_1h: bool) -> Stream:
    p = PERSON[first]
    routes = (
        Route("refactoring", 0.55, FORGE_MODELS, (5, 22), (5, 45), FORGE_SYS),
        Route("test-generation", 0.30, FORGE_MODELS, (4, 14), (5, 45), FORGE_SYS),
        Route("code-review", 0.15, FORGE_MODELS, (3, 8), (5, 45), FORGE_SYS),
    )
    return Stream(
        f"agent/forge-{first}",
        "agent",
        f"forge-{first}",
        volume,
        office(p.utc_offset),
        routes,
        app="forge-agent",
        user=p.handle,
        team=p.team,
        project=TEAM_PROJECT[p.team],
        environment="dev",
        agentic=True,
        explicit_cache=True,
        cache_1h=cache_1h,
        error_rate=0.0,
    )


AGENT_STREAMS: tuple[Stream, ...] = (
    _forge("bob", 150, True),
    _forge("ivan", 120, True),
    _forge("alice", 110, False),
    _forge("gustavo", 70, False),
    _forge("hana", 50, False),
)

# --- Claude Code: developers' local agent sessions, billed by Anthropic ---------------------
CC_SYS = 14_000  # Claude Code system prompt + tool definitions
CC_MODELS = (("claude-sonnet-4-6", 0.6), ("claude-opus-4-8", 0.3), ("claude-haiku-4-5", 0.1))


def _claude_code(first: str, volume: int) -> Stream:
    p = PERSON[first]
    routes = (
        Route("refactoring", 0.5, CC_MODELS, (4, 24), (5, 50), CC_SYS),
        Route("test-generation", 0.3, CC_MODELS, (3, 14), (5, 50), CC_SYS),
        Route("code-review", 0.2, CC_MODELS, (2, 8), (5, 50), CC_SYS),
    )
    return Stream(
        f"claude-code/{first}",
        "claude-code",
        claude_code_key(first),
        volume,
        office(p.utc_offset),
        routes,
        app="claude-code",
        user=p.handle,
        team=p.team,
        project=TEAM_PROJECT[p.team],
        environment="dev",
        agentic=True,
        explicit_cache=True,
        cache_1h=True,
        error_rate=0.0,
        api_ids=(("claude-haiku-4-5", "claude-haiku-4-5-20251001"),),
    )


CLAUDE_CODE_STREAMS: tuple[Stream, ...] = tuple(
    _claude_code(first, vol)
    for first, vol in (("dmitri", 150), ("erin", 110), ("carol", 80), ("julia", 60))
)

# --- Other services: document intake on AWS Bedrock, a copy service through Portkey, a release
# notes bot with its own CSV logger --------------------------------------------------------
DOC_INTAKE_SYS = 4_600
DOC_INTAKE_PREFIX = "doc-intake-classifier-v4"
DOC_INTAKE = Stream(
    "bedrock/doc-intake",
    "bedrock",
    "doc-intake-task-role",
    300,
    BUSINESS,
    (
        Route(
            "classification",
            0.7,
            (("claude-haiku-4-5", 1.0),),
            prefix=DOC_INTAKE_SYS,
            prefix_id=DOC_INTAKE_PREFIX,
        ),
        Route("extraction", 0.3, (("claude-sonnet-4-6", 1.0),), (1, 3), (5, 40), 2_400),
    ),
    app="doc-intake",
    service="doc-intake",
    team="support-tools",
    project="helpdesk",
    environment="production",
    explicit_cache=True,
    error_rate=0.0,
    region="eu-central-1",
    api_ids=(
        ("claude-haiku-4-5", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("claude-sonnet-4-6", "global.anthropic.claude-sonnet-4-6"),
    ),
)

COPY_STUDIO = Stream(
    "portkey/copy-studio",
    "portkey",
    "copy-studio-prod",
    250,
    office(2),
    (
        Route(
            "copywriting",
            1.0,
            (("claude-sonnet-4-6", 0.6), ("gpt-4.1", 0.4)),
            (1, 5),
            (30, 300),
        ),
    ),
    app="copy-studio",
    service="copy-studio",
    team="web",
    project="website",
    environment="production",
    error_rate=0.01,
    api_ids=(("gpt-4.1", "gpt-4.1-2025-04-14"),),
)

RELEASE_NOTES = Stream(
    "csv/release-notes-bot",
    "csv",
    "release-notes-bot",
    60,
    CI,
    (
        Route(
            "summarize",
            1.0,
            (("mistral-large-2512", 0.5), ("deepseek-v4-flash", 0.5)),
            (1, 3),
            (2, 20),
            1_500,
        ),
    ),
    app="release-notes-bot",
    service="release-notes-bot",
    team="platform",
    project="monorepo",
    environment="ci",
    error_rate=0.01,
)

# --- Planted waste patterns (fixed size, independent of --requests) ------------------------
OVERQUALIFIED = Stream(
    "gateway/dmitri-ide/premium",
    "gateway",
    "dmitri-ide",
    30,
    office(2),
    (
        Route("autocomplete", 0.65, (("claude-opus-4-8", 0.6), ("gpt-5.5", 0.4)), (1, 3), (15, 80)),
        Route("commit-message", 0.35, (("claude-opus-4-8", 0.6), ("gpt-5.5", 0.4))),
    ),
    app="Continue",
    user="dvolkov",
    team="platform",
    project="monorepo",
    environment="dev",
    fixed=True,
    pattern="overqualification",
    human=True,
    error_rate=0.0,
)

REGENERATION = Stream(
    "gateway/erin-ide/regenerate",
    "gateway",
    "erin-ide",
    0,
    office(1),
    (
        Route("chat", 0.6, (("claude-sonnet-4-6", 1.0),), (2, 4), (25, 150), 1_400),
        Route("code-review", 0.4, (("claude-sonnet-4-6", 1.0),), (2, 4), (25, 150), 1_400),
    ),
    app="Continue",
    user="ewalsh",
    team="web",
    project="monorepo",
    environment="dev",
    fixed=True,
    pattern="redundant-regeneration",
    explicit_cache=True,
    human=True,
    error_rate=0.0,
    sessions=10,
)

CONTEXT_BLOAT = Stream(
    "litellm/rag-search/production/bloat",
    "litellm",
    "prod-backend",
    14,
    BUSINESS,
    (
        Route(
            "rag-answer", 1.0, (("claude-sonnet-4-6", 1.0),), prefix=RAG_SYS, prefix_id=RAG_PREFIX
        ),
    ),
    app="rag-search",
    service="rag-search",
    team="data",
    project="search",
    environment="production",
    fixed=True,
    pattern="context-bloat",
    explicit_cache=True,
    error_rate=0.0,
    log_cost=True,
    region="us-east-1",
    extra=(("top_k", 400),),
    shape=Shape((150_000, 0.12, 118_850, 178_850), (200, 0.1, 170, 240), False),
)

STALE_KEY = Stream(
    "gateway/proto-experiment-2025",
    "gateway",
    "proto-experiment-2025",
    0,
    CRON,
    (Route("", 1.0, (("gpt-4.1", 1.0),)),),
    app=None,
    fixed=True,
    pattern="stale-key",
    error_rate=0.0,
    region="us-east-1",
    shape=Shape((3_000, 0.25, 1_800, 4_800), (400, 0.3, 150, 800), False),
    extra=(("client", "python-requests/2.31.0"),),
)

UNPRICED = Stream(
    "csv/triage-classifier",
    "csv",
    "triage-canary",
    20,
    BUSINESS,
    (Route("classification", 1.0, (("acme/llama-ft-support-v3", 1.0),), prefix=400),),
    app="triage-classifier",
    service="triage-classifier",
    team="support-tools",
    project="helpdesk",
    environment="production",
    fixed=True,
    pattern="unpriced",
    error_rate=0.0,
    days=(14, 29),
    extra=(("deployment", "vllm-a10g-canary"),),
)

# rag-search's production canary still went through the company gateway, which forwards to the
# LiteLLM proxy: each call is in BOTH logs, with the provider's response id as the id.
RAG_MIRROR = Stream(
    "litellm+gateway/rag-search/canary",
    "litellm+gateway",
    "prod-backend",
    24,
    BUSINESS,
    (
        Route(
            "rag-answer",
            0.75,
            (("claude-sonnet-4-6", 1.0),),
            (1, 3),
            (20, 120),
            RAG_SYS,
            RAG_PREFIX,
        ),
        Route("rag-answer", 0.25, (("gpt-4.1", 1.0),), (1, 3), (20, 120), 900),
    ),
    app="rag-search",
    service="rag-search",
    team="data",
    project="search",
    environment="production",
    fixed=True,
    pattern="mirror-logged",
    explicit_cache=True,
    error_rate=0.0,
    log_cost=True,
    region="us-east-1",
    days=(0, 1),
    extra=(("top_k", 8), ("route", "gateway-canary")),
)

# Anthropic traffic that no log covers: an old batch job's key, seen only in the billing exports.
LEGACY_BATCH = Stream(
    "unlogged/legacy-batch-key",
    "unlogged",
    "legacy-batch-key",
    0,
    CRON,
    (Route("", 1.0, (("claude-sonnet-4-6", 1.0),)),),
    app=None,
    fixed=True,
    pattern="unlogged",
)
LEGACY_DAYS = (4, 11, 18, 25, 29)  # June 5, 12, 19, 26, 30
LEGACY_WEIGHTS = ("0.8", "1.2", "0.9", "1.3", "0.8")  # share of the unlogged amount per day x5
LEGACY_SHARE = Decimal("0.045")  # unlogged amount as a fraction of logged Anthropic spend

CI_STREAM = SERVICE_STREAMS[6]
CODE_REVIEW_STREAM = SERVICE_STREAMS[5]
SUPPORT_SUMMARY_STREAM = SERVICE_STREAMS[0]

STORM_DAYS = (3, 10, 16, 24)  # June 4, 11, 17, 25
CACHE_MISS_DAYS = (14, 18)  # June 15-19: code-review-bot 2.3.0 dropped cache_control
OUTPUT_WASTE_WINDOWS = ((8, 12, 18), (22, 8, 13))  # (day, from hour, to hour) UTC
LEAKED_SECRETS = (  # (stream, first day, lines, fake secret prefix)
    (CODE_REVIEW_STREAM.name, 11, 3, "sk-ant-api03-FAKE"),
    (CI_STREAM.name, 1, 3, "sk-proj-FAKE"),
)

BASE_STREAMS: tuple[Stream, ...] = (
    *OPENROUTER_STREAMS,
    NIGHTLY_EVAL,
    *SERVICE_STREAMS,
    *IDE_STREAMS,
    *AGENT_STREAMS,
    *CLAUDE_CODE_STREAMS,
    DOC_INTAKE,
    COPY_STUDIO,
    RELEASE_NOTES,
)
PLANTED_STREAMS: tuple[Stream, ...] = (
    DOCS_BOT,
    RAG_MIRROR,
    OVERQUALIFIED,
    REGENERATION,
    CONTEXT_BLOAT,
    STALE_KEY,
    UNPRICED,
)

# --- May 2026, the month before (so the report has a month over month) ----------------------
# The same people, keys and services a month earlier, seen through fewer exports: the laptops'
# OpenRouter traffic (generations and activity CSVs), every direct provider call through the
# company gateway (one gateway JSONL), and the OpenAI and Anthropic cost exports. What differs
# from June: claude-opus-4-8 has a third of its June weight in every model mix (Opus use grew
# in June); copy-studio (project `website`) only launched in June; the planted waste patterns,
# leaked secrets, legacy-batch-key, the triage canary and the rag-search gateway canary are
# June's. The stale prototype key keeps its cron job. A re-routed caller's gateway lines carry
# only the attribution its June source records (see MAY_GATEWAY_OMIT), so the report's month
# over month compares like with like and finds no key that June does not know.

# May's RNG is seeded with the June seed plus this. The offset is one for which the default
# May trips no detector by chance (the nightly eval's output is heavy-tailed: with most seeds a
# few eval answers count as verbose), so its report shows the stale key alone.
MAY_SEED_DELTA = -121
MAY_SHARE = 0.78  # May's distinct calls per June call, in June's proportions per stream
MAY_OPUS_WEIGHT = 1 / 3  # claude-opus-4-8's weight in a May model mix, relative to June's
NO_KEY = frozenset({"api_key", "key_name"})
MAY_GATEWAY_OMIT = {  # June channel -> fields a May gateway line leaves out
    "agent": frozenset({"api_key"}),  # forge-agent's log names its key, with no id
    "claude-code": NO_KEY | {"user", "team", "environment", "purpose"},  # the cwd names a project
    "csv": frozenset(),  # the CSV loggers log the key id, as the gateway does
    # Helicone, Langfuse and Bedrock log no key; LiteLLM logs a hash a gateway line cannot carry.
}
MAY_GATEWAY_USER = {"helicone": "support-bot", "helicone-csv": "support-bot-staging"}  # user ids
# Ivan took up Aider on 05-20 (on his old MacBook's key): a key named `*old*` in daily use all
# month would look like a stale key to the report, which May is not meant to have.
MAY_DAYS = {"openrouter/ivan-aider": (19, 30)}


def in_may(stream: Stream) -> Stream:
    """A June stream a month earlier: fewer Opus calls, through the gateway unless June logs it
    in the gateway JSONL or on OpenRouter already."""
    routes = tuple(
        replace(
            r,
            models=tuple(
                (k, w * MAY_OPUS_WEIGHT if k == "claude-opus-4-8" else w) for k, w in r.models
            ),
        )
        for r in stream.routes
    )
    s = replace(stream, routes=routes, days=MAY_DAYS.get(stream.name, stream.days))
    if s.channel.startswith("openrouter") or s.channel == "gateway":
        return s
    return replace(
        s,
        channel="gateway",
        gateway_omit=MAY_GATEWAY_OMIT.get(s.channel, NO_KEY),
        user=MAY_GATEWAY_USER.get(s.channel, s.user),
        provider="bedrock" if s.channel == "bedrock" else None,  # the gateway's Bedrock route
    )


MAY_BASE_STREAMS: tuple[Stream, ...] = tuple(
    in_may(s) for s in BASE_STREAMS if s is not COPY_STUDIO
)
MAY_PLANTED_STREAMS: tuple[Stream, ...] = (replace(DOCS_BOT, volume=34), STALE_KEY)


# ════════════════════════════════════════════════════════════════════════════════════════
# 2. Request generator (pure and seeded)
# ════════════════════════════════════════════════════════════════════════════════════════


@dataclass
class Request:
    """One LLM call, in canonical token terms (input excludes cache reads and writes)."""

    t_ms: int
    seq: int
    stream: Stream
    model: Model
    model_id: str
    key: ApiKey
    purpose: str | None
    session_id: str | None
    prompt_hash: str
    prefix_hash: str | None = None
    uncached: int = 0
    cached: int = 0
    write_5m: int = 0
    write_1h: int = 0
    output: int = 0
    reasoning: int = 0
    status: str = "ok"  # ok | error | cancelled
    http_status: int | None = 200
    error_type: str | None = None
    finish: str = "stop"  # stop | tool_calls | length | error | "" (cancelled)
    latency_ms: int = 0
    ttft_ms: int = 0
    outcome: str | None = None
    streamed: bool = False
    pattern: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)
    response_api: str | None = None  # agent lines: chat | responses | messages
    # assigned when the month is finalised
    request_id: str = ""
    or_provider: str = ""
    ts_style: str = "z"  # z | offset | epoch
    logged_api_key: str = ""

    @property
    def channel(self) -> str:
        return self.stream.channel

    @property
    def prompt_tokens(self) -> int:
        return self.uncached + self.cached + self.write_5m + self.write_1h

    def cost(self) -> Decimal | None:
        """List price of the call in USD, exact (None for a model no price table knows)."""
        p = self.model.price
        if p is None:
            return None
        total = (
            self.uncached * p.input
            + self.cached * p.cached
            + self.write_5m * p.write_5m
            + self.write_1h * p.write_1h
            + self.output * p.output
        )
        return total / MILLION


@dataclass
class Session:
    id: str
    route: Route
    model: Model
    api: str | None
    times: list[int]
    context: int = 0
    last_output: int = 0
    prompt_total: int | None = None  # fixed prompt (regeneration clusters)
    prompt_hash: str | None = None


class Month:
    """Mutable generation state: the RNG, counters, the prompt-cache clock, blackout windows."""

    def __init__(self, seed: int, period: Period = JUNE) -> None:
        self.rng = random.Random(seed)
        self.period = period
        self.seq = 0
        self.prompts = 0
        self.cache: dict[tuple[str, ...], int] = {}
        self.blackouts: dict[str, list[tuple[int, int]]] = {}
        self.counters: dict[str, int] = {}

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def prompt_hash(self) -> str:
        self.prompts += 1
        text = f"acme-synthetic-prompt-{self.period.prompt_salt}{self.prompts:06d}"
        return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"

    def counter(self, name: str, start: int) -> int:
        start += dict(self.period.counter_shift).get(name, 0)
        self.counters[name] = self.counters.get(name, start) + 1
        return self.counters[name]

    def lognorm(self, spec: Spec) -> int:
        median, sigma, lo, hi = spec
        return max(lo, min(hi, round(median * math.exp(self.rng.gauss(0.0, sigma)))))

    def pick(self, options: Sequence[tuple[str, float]]) -> str:
        return self.rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]

    def text(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))


def prefix_hash(prefix_id: str) -> str:
    return "sha256:" + hashlib.sha256(f"acme-system-prompt:{prefix_id}".encode()).hexdigest()


def day_weight(period: Period, rhythm: Rhythm, day: int) -> float:
    """Relative traffic on a day of the month (0 = the 1st)."""
    weekday = (period.first + timedelta(days=day)).weekday()
    w = 1.0 if weekday < 5 else rhythm.weekend
    w *= 0.92 + 0.16 * day / (period.days - 1)  # adoption grows through the month
    if rhythm.crunch and period.crunch and period.crunch[0] <= day <= period.crunch[1]:
        w *= 1.12
    return w


def sample_start(m: Month, rhythm: Rhythm, day_weights: list[float]) -> int:
    start, end = m.period.start_ms, m.period.end_ms
    while True:
        d = m.rng.choices(range(m.period.days), weights=day_weights)[0]
        h = m.rng.choices(range(24), weights=rhythm.hours)[0]
        t = start + d * DAY_MS + (h - rhythm.utc_offset) * HOUR_MS + m.rng.randrange(HOUR_MS)
        if start <= t < end:
            return t


def session_id(m: Month, stream: Stream, t: int) -> str:
    svc = stream.service
    if svc == "support-bot":
        return f"ticket-{m.counter('ticket', 88_400)}"
    if svc == "code-review-bot":
        return f"pr-{m.counter('pr', 4_810)}"
    if svc == "ci-pipeline":
        return f"ci-run-{m.counter('ci', 271_000)}"
    if svc == "nightly-eval":
        return f"eval-{datetime.fromtimestamp(t / 1000, UTC):%Y-%m-%d}"
    if stream.channel == "agent":
        return f"run_{m.text(HEX, 16)}"
    if stream.channel == "claude-code":
        return uuid_text(m.text(HEX, 32))
    return f"sess_{m.text(HEX, 12)}"


def new_session(m: Month, stream: Stream, times: list[int], route: Route | None = None) -> Session:
    route = (
        route
        or stream.routes[
            m.rng.choices(range(len(stream.routes)), weights=[r.weight for r in stream.routes])[0]
        ]
    )
    model = MODELS[m.pick(route.models)]
    api = "messages" if stream.channel == "claude-code" else None
    if stream.channel == "agent":
        if model.vendor == "anthropic":
            api = "messages"
        elif model.key == "gpt-5.5":
            api = "responses"
        else:
            api = "chat" if model.key == "gpt-4.1" or m.rng.random() < 0.5 else "responses"
    return Session(session_id(m, stream, times[0]), route, model, api, times)


def plan_sessions(m: Month, stream: Stream, count: int) -> list[Session]:
    """Place ``count`` calls (or ``stream.sessions`` whole sessions) on the month's calendar."""
    sessions: list[Session] = []
    days, start, end = m.period.days, m.period.start_ms, m.period.end_ms
    if stream.rhythm.kind == "nightly":
        per_night = [count // days + (1 if d < count % days else 0) for d in range(days)]
        for d, n in enumerate(per_night):
            if n:
                t = start + d * DAY_MS + 2 * HOUR_MS + m.rng.randrange(5 * MIN_MS)
                times = [t]
                for _ in range(n - 1):
                    times.append(
                        times[-1]
                        + m.rng.randint(*stream.routes[0].gap_s) * 1000
                        + m.rng.randrange(1000)
                    )
                sessions.append(new_session(m, stream, times))
        return sessions
    if stream.rhythm.kind == "cron":  # 2-5 calls a day at minute 17 of a few fixed hours
        for d in range(days):
            hours = sorted(m.rng.sample((2, 8, 11, 14, 17, 20), m.rng.randint(2, 5)))
            for h in hours:
                t = start + d * DAY_MS + h * HOUR_MS + 17 * MIN_MS + m.rng.randrange(4000)
                sessions.append(new_session(m, stream, [t]))
        return sessions
    lo, hi = stream.days or (0, days - 1)
    weights = [
        day_weight(m.period, stream.rhythm, d) if lo <= d <= hi else 0.0 for d in range(days)
    ]
    windows = m.blackouts.get(stream.key, [])
    planned = 0
    while (planned < count) if stream.sessions is None else (len(sessions) < stream.sessions):
        route = stream.routes[
            m.rng.choices(range(len(stream.routes)), weights=[r.weight for r in stream.routes])[0]
        ]
        size = m.rng.randint(*route.session)
        if stream.sessions is None:
            size = min(size, count - planned)
        t = sample_start(m, stream.rhythm, weights)
        times: list[int] = []
        for i in range(size):
            if i:
                t += m.rng.randint(*route.gap_s) * 1000 + m.rng.randrange(1000)
            if t >= end or any(a <= t <= b for a, b in windows):
                break
            times.append(t)
        if not times or (stream.sessions is not None and len(times) < size):
            continue
        sessions.append(new_session(m, stream, times, route))
        planned += len(times)
    return sessions


def cache_ttl_ms(model: Model, one_hour: bool) -> int:
    if model.vendor == "anthropic":
        return HOUR_MS if one_hour else 5 * MIN_MS
    return {"openai": 10 * MIN_MS, "google": 5 * MIN_MS, "deepseek": 6 * HOUR_MS}.get(
        model.vendor, 0
    )


def reasoning_tokens(m: Month, model: Model, shape: Shape) -> int:
    if model.reasoning == "always":  # Gemini 2.5 Pro cannot switch thinking off
        return m.lognorm((900, 0.6, 128, 8000) if shape.think else (200, 0.4, 128, 600))
    if not shape.think or model.reasoning == "never":
        return 0
    if model.reasoning == "effort":
        return 0 if m.rng.random() < 0.1 else m.lognorm((700, 0.8, 32, 12000))
    return m.lognorm((400, 0.7, 32, 4000)) if m.rng.random() < 0.45 else 0


def split_prompt(
    m: Month,
    req: Request,
    total: int,
    cacheable: int,
    warm: bool,
    agentic: bool,
    explicit: bool,
    sys_1h: int,
) -> bool:
    """Split a prompt of ``total`` tokens into uncached / cache-read / cache-write parts.

    Returns whether the call left the prefix in the provider's cache.
    """
    model, via_openrouter = req.model, req.channel.startswith("openrouter")
    cacheable = min(cacheable, total)
    if cacheable < model.min_cache or (model.vendor == "anthropic" and not explicit):
        req.uncached = total
        return False
    if model.vendor == "anthropic":
        if agentic:  # breakpoint at the end of the conversation: only the newest bit is uncached
            uncached = m.rng.randint(1, 12)
            cacheable = min(cacheable, total - uncached)
        else:
            uncached = total - cacheable
        req.cached = cacheable if warm else 0
        written = total - uncached - req.cached
        if via_openrouter:  # the generations CSV has no cache-write column
            req.uncached = uncached + written
        else:
            req.uncached = uncached
            req.write_1h = min(sys_1h, written) if not warm else 0
            req.write_5m = written - req.write_1h
        return True
    if model.vendor == "openai" and warm:
        req.cached = cacheable // 128 * 128
    elif model.vendor == "google" and warm and m.rng.random() < 0.85:
        req.cached = cacheable
    elif model.vendor == "deepseek" and warm:
        req.cached = cacheable // 64 * 64
    req.uncached = total - req.cached
    return True


def in_output_waste_window(t: int) -> bool:
    return any(
        START_MS + d * DAY_MS + a * HOUR_MS <= t < START_MS + d * DAY_MS + b * HOUR_MS
        for d, a, b in OUTPUT_WASTE_WINDOWS
    )


def in_cache_miss_window(t: int) -> bool:
    lo, hi = CACHE_MISS_DAYS
    return START_MS + lo * DAY_MS <= t < START_MS + (hi + 1) * DAY_MS


def make_request(m: Month, stream: Stream, session: Session, idx: int, t: int) -> Request:
    """Shape one call: attribution, tokens (with prompt caching), errors, latency, outcome."""
    route, model = session.route, session.model
    if stream.rhythm.kind == "nightly":  # the eval run goes round every model
        model = MODELS[m.pick(route.models)]
    shape = stream.shape or SHAPES[route.purpose]
    key = KEYS[stream.key]
    if stream.old_key and t < START_MS + stream.old_key[0] * DAY_MS:
        key = KEYS[stream.old_key[1]]
    req = Request(
        t_ms=t,
        seq=m.next_seq(),
        stream=stream,
        model=model,
        model_id=dict(stream.api_ids).get(model.key, model.api_id),
        key=key,
        purpose=route.purpose or None,
        session_id=session.id,
        prompt_hash=session.prompt_hash or m.prompt_hash(),
        pattern=stream.pattern,
        streamed=m.rng.random() < stream.streamed,
        response_api=session.api,
        metadata=dict(stream.extra),
    )
    if route.prefix_id:
        req.prefix_hash = prefix_hash(route.prefix_id)
    explicit = stream.explicit_cache
    if stream is CODE_REVIEW_STREAM:
        if in_cache_miss_window(t):
            explicit, req.pattern = False, "cache-miss"
            req.metadata["bot_version"] = "2.3.0"
        elif t >= START_MS + (CACHE_MISS_DAYS[1] + 1) * DAY_MS:
            req.metadata["bot_version"] = "2.3.1"

    # prompt size
    agent_step = stream.agentic and idx > 0
    cacheable = session.context if agent_step else route.prefix
    if session.prompt_total is not None:
        total = session.prompt_total
    elif agent_step:
        total = session.context + session.last_output + m.lognorm(stream.turn)
        if total > AGENT_CONTEXT_CAP:  # the tool compacts the conversation into a summary
            total = route.prefix + m.lognorm((4000, 0.3, 2000, 8000))
            cacheable, agent_step = route.prefix, False
    else:
        total = route.prefix + m.lognorm(shape.body)
    if model.premium and stream.pattern != "overqualification" and total < 2_100:
        total = 2_100 + m.rng.randrange(600)  # premium models only see sizeable prompts here
    if stream.sessions is not None:  # a regeneration cluster resends the very same prompt
        session.prompt_total, session.prompt_hash = total, req.prompt_hash
    cache_key = (stream.key, model.key, session.id if agent_step else route.prefix_id or "sys")

    # failures (retry storms are planted separately)
    if m.rng.random() < stream.error_rate:
        kind = m.pick((("429", 0.55), ("500", 0.25), ("408", 0.15), ("400", 0.05)))
        req.status, req.finish, req.http_status = "error", "error", int(kind)
        req.error_type = {
            "429": "rate_limit",
            "500": "server_error",
            "408": "timeout",
            "400": "invalid_request",
        }[kind]
        req.latency_ms = {
            "429": m.rng.randint(60, 400),
            "500": m.rng.randint(300, 4000),
            "408": m.rng.randint(30_000, 60_000),
            "400": m.rng.randint(40, 250),
        }[kind]
        if kind == "408" and req.channel == "gateway" and m.rng.random() < 0.5:
            req.uncached = total  # the provider had already read the prompt
        return req

    one_hour = stream.cache_1h and not agent_step
    warm = m.cache.get(cache_key, -(10**15)) + cache_ttl_ms(model, one_hour) >= t
    if split_prompt(
        m, req, total, cacheable, warm, stream.agentic, explicit, route.prefix if one_hour else 0
    ):
        m.cache[cache_key] = t
        if stream.agentic:  # the whole conversation so far is now cached for the next step
            m.cache[(stream.key, model.key, session.id)] = t

    visible = m.lognorm(shape.out)
    if stream is SUPPORT_SUMMARY_STREAM and in_output_waste_window(t):
        visible = round(visible * m.rng.uniform(5.0, 10.0))
        req.pattern = "output-waste"
        req.metadata["prompt_version"] = "summary-v14"
    req.reasoning = reasoning_tokens(m, model, shape)
    req.output = visible + req.reasoning
    if stream.agentic and route.purpose != "chat" and m.rng.random() < 0.65:
        req.finish = "tool_calls"
    elif m.rng.random() < 0.01 and route.purpose not in ("autocomplete", "commit-message"):
        req.finish = "length"

    prefill = req.prompt_tokens - req.cached
    req.ttft_ms = round(
        model.ttft_ms * math.exp(m.rng.gauss(0, 0.3))
        + prefill / 20
        + req.cached / 200
        + req.reasoning / model.tps * 1000
    )
    req.latency_ms = req.ttft_ms + round(visible / model.tps * 1000 * math.exp(m.rng.gauss(0, 0.2)))

    if stream.human and stream.pattern is None and m.rng.random() < 0.012:
        req.status, req.finish = "cancelled", ""  # the user pressed stop
        req.http_status = 499 if req.channel == "gateway" else None
        req.output = req.reasoning + round(visible * m.rng.uniform(0.1, 0.6))

    if stream.human and req.channel == "gateway" and req.status == "ok":
        if stream.sessions is not None:
            req.outcome = "rejected" if idx == 0 else "regenerated"
        else:
            accept = {"autocomplete": 0.68, "commit-message": 0.85}.get(route.purpose, 0.9)
            req.outcome = "accepted" if m.rng.random() < accept else "rejected"

    session.context, session.last_output = total, visible
    return req


def stream_requests(m: Month, stream: Stream, count: int) -> list[Request]:
    sessions = plan_sessions(m, stream, count)
    steps = sorted(((t, n, i) for n, s in enumerate(sessions) for i, t in enumerate(s.times)))
    return [make_request(m, stream, sessions[n], i, t) for t, n, i in steps]


def plant_retry_storms(m: Month) -> list[Request]:
    """ci-pipeline: bursts of 10-30 failed calls seconds apart from key ci-runner."""
    stream, out = CI_STREAM, []
    model = MODELS["gpt-5.4-mini"]
    route = stream.routes[0]
    for n, day in enumerate(STORM_DAYS):
        t = START_MS + day * DAY_MS + m.rng.randint(8 * HOUR_MS, 14 * HOUR_MS)
        first = t
        job = f"ci-run-{m.counter('ci', 271_000)}"
        prompt_hash = m.prompt_hash()
        total = route.prefix + m.lognorm(SHAPES["test-generation"].body)
        for _ in range(m.rng.randint(10, 30)):
            kind = m.pick((("429", 0.62), ("500", 0.23), ("408", 0.15)))
            req = Request(
                t,
                m.next_seq(),
                stream,
                model,
                model.api_id,
                KEYS[stream.key],
                "test-generation",
                job,
                prompt_hash,
                pattern="retry-storm",
                status="error",
                finish="error",
                http_status=int(kind),
                error_type={"429": "rate_limit", "500": "server_error", "408": "timeout"}[kind],
                metadata={"retry_policy": "immediate", "attempt_budget": "none"},
            )
            req.latency_ms = {
                "429": m.rng.randint(60, 300),
                "500": m.rng.randint(400, 3000),
                "408": m.rng.randint(20_000, 30_000),
            }[kind]
            if kind == "408" and m.rng.random() < 0.7:
                req.uncached = total
            out.append(req)
            t += req.latency_ms + m.rng.randint(800, 5_000)
        if n % 2 == 0:  # the job finally got through
            ok = Request(
                t,
                m.next_seq(),
                stream,
                model,
                model.api_id,
                KEYS[stream.key],
                "test-generation",
                job,
                prompt_hash,
                uncached=total,
                output=m.lognorm(SHAPES["test-generation"].out),
            )
            ok.latency_ms = ok.ttft_ms = 500 + round(ok.output / model.tps * 1000)
            out.append(ok)
        m.blackouts.setdefault(stream.key, []).append((first - 5 * MIN_MS, t + 5 * MIN_MS))
    return out


def finalise(
    m: Month, reqs: list[Request], leaked: Sequence[tuple[str, int, int, str]] = LEAKED_SECRETS
) -> list[Request]:
    """Sort the month and assign ids, OpenRouter hosts, timestamp styles and leaked keys."""
    reqs.sort(key=lambda r: (r.t_ms, r.seq))
    used: set[str] = set()
    for r in reqs:
        while not r.request_id or r.request_id in used:
            r.request_id = new_request_id(m, r)
        used.add(r.request_id)
        if r.channel.startswith("openrouter"):
            r.or_provider = m.pick(r.model.or_providers)
        r.logged_api_key = r.key.key_id
        if r.channel in GATEWAY_CHANNELS:
            roll = m.rng.random()
            if roll < 0.05:
                r.ts_style = "epoch"
            elif r.stream.region == "eu-central-1" and roll < 0.30:
                r.ts_style = "offset"
    for stream_name, day, lines, prefix in leaked:
        candidates = [
            r
            for r in reqs
            if r.stream.name == stream_name
            and r.pattern is None
            and r.t_ms >= START_MS + day * DAY_MS
        ]
        for r in candidates[:lines]:
            body = m.text(ALNUM + "-_", 90 if prefix.startswith("sk-ant") else 140)
            r.logged_api_key = prefix + body
    return reqs


def uuid_text(h: str) -> str:
    """32 hex digits as a version-4 UUID."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


# Sources whose own id is a UUID rather than the provider's response id.
UUID_CHANNELS = ("helicone", "helicone-csv", "portkey", "langfuse", "bedrock")


def new_request_id(m: Month, r: Request) -> str:
    if r.channel.startswith("openrouter"):
        return f"gen-{r.t_ms // 1000}-{m.text(ALNUM, 16)}"
    if r.channel in UUID_CHANNELS or r.stream.provider == "bedrock":  # Bedrock's requestId
        return uuid_text(m.text(HEX, 32))
    if r.channel == "litellm" and (r.status == "error" or r.model.vendor == "google"):
        return "chatcmpl-" + uuid_text(m.text(HEX, 32))  # LiteLLM makes its own id
    vendor, api = r.model.vendor, r.response_api
    if api == "responses":
        return "resp_" + m.text(HEX, 48)
    if vendor == "anthropic":
        return "msg_01" + m.text(ALNUM, 22)
    if vendor == "openai":
        return "chatcmpl-" + m.text(ALNUM, 29)
    if vendor == "google":
        return m.text(ALNUM + "-_", 23)
    if vendor == "deepseek":
        return uuid_text(m.text(HEX, 32))
    if vendor == "mistral":
        return "cmpl-" + m.text(HEX, 32)
    return "chatcmpl-" + m.text(HEX, 32)  # vLLM


GATEWAY_CHANNELS = ("gateway", "openrouter+gateway", "litellm+gateway")  # in the gateway JSONL


def billed_by(r: Request) -> str:
    """Who billed the call (the provider vocabulary of docs/adding-a-source.md)."""
    if r.stream.provider:
        return r.stream.provider
    if r.channel.startswith("openrouter"):
        return "openrouter"
    if r.channel == "bedrock":
        return "bedrock"
    return r.model.vendor


def unlogged_requests(reqs: Sequence[Request], period: Period = JUNE) -> list[Request]:
    """legacy-batch-key's Anthropic traffic: one pseudo-request per day, in billing exports only.

    Sized from the month's logged Anthropic spend (LEGACY_SHARE), so it is a pure function of
    the requests and every billing writer sees the same amounts. It ran in June only.
    """
    if period != JUNE:
        return []
    logged = sum((r.cost() or Decimal(0) for r in reqs if billed_by(r) == "anthropic"), Decimal(0))
    model = MODELS["claude-sonnet-4-6"]
    assert model.price is not None
    out = []
    for day, weight in zip(LEGACY_DAYS, LEGACY_WEIGHTS, strict=True):
        amount = logged * LEGACY_SHARE * Decimal(weight) / len(LEGACY_DAYS)
        out.append(
            Request(
                t_ms=START_MS + day * DAY_MS + 3 * HOUR_MS,
                seq=0,
                stream=LEGACY_BATCH,
                model=model,
                model_id=model.snapshot,
                key=KEYS[LEGACY_BATCH.key],
                purpose=None,
                session_id=None,
                prompt_hash="",
                uncached=int(amount * Decimal("0.7") / model.price.input * MILLION),
                output=int(amount * Decimal("0.3") / model.price.output * MILLION),
                request_id=f"unlogged-{day + 1:02d}",
            )
        )
    return out


def planted_count(seed: int) -> int:
    return len(generate_month(seed, None))


def base_requests(m: Month, streams: Sequence[Stream], base: int) -> list[Request]:
    """``base`` ordinary calls, split over ``streams`` in proportion to their volumes."""
    weights = [s.volume for s in streams]
    exact = [base * w / sum(weights) for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: base - sum(counts)]:
        counts[i] += 1
    reqs: list[Request] = []
    for stream, n in zip(streams, counts, strict=True):
        reqs += stream_requests(m, stream, n)
    return reqs


def generate_month(seed: int, total: int | None) -> list[Request]:
    """All calls of June. ``total`` = number of distinct calls (None: planted calls only)."""
    m = Month(seed)
    reqs = plant_retry_storms(m)
    for stream in PLANTED_STREAMS:
        reqs += stream_requests(m, stream, stream.volume)
    if total is not None:
        reqs += base_requests(m, BASE_STREAMS, total - len(reqs))
    return finalise(m, reqs)


def may_requests(june_total: int) -> int:
    """May's distinct calls for a June of ``june_total``."""
    return round(june_total * MAY_SHARE)


def generate_may(seed: int, june_total: int) -> list[Request]:
    """All calls of May, from an RNG of its own (June's draws do not depend on May)."""
    m = Month(seed + MAY_SEED_DELTA, MAY)
    reqs: list[Request] = []
    for stream in MAY_PLANTED_STREAMS:
        reqs += stream_requests(m, stream, stream.volume)
    reqs += base_requests(m, MAY_BASE_STREAMS, may_requests(june_total) - len(reqs))
    return finalise(m, reqs, leaked=())


# ════════════════════════════════════════════════════════════════════════════════════════
# 3. Writers (one per export format)
# ════════════════════════════════════════════════════════════════════════════════════════


@dataclass
class FileStats:
    rows: int = 0  # lines, rows or bucket results
    cost: Decimal = Decimal(0)  # list price of the requests, or the money an aggregate states
    unpriced: int = 0
    errors: int = 0
    requests: int | None = None  # distinct requests, where rows are not one per request
    files: list[str] = field(default_factory=list)  # written files, for directory writers


def usd(value: Decimal) -> str:
    """Up to 10 decimals, no exponent, no trailing zeros."""
    text = format(value.quantize(USD_STEP).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def iso_z(t_ms: int) -> str:
    dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{t_ms % 1000:03d}Z"


def iso_offset(t_ms: int, hours: int) -> str:
    dt = datetime.fromtimestamp(t_ms / 1000, UTC) + timedelta(hours=hours)
    sign = "+" if hours >= 0 else "-"
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{t_ms % 1000:03d}{sign}{abs(hours):02d}:00"


def or_created_at(t_ms: int) -> str:
    dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{t_ms % 1000:03d}"


def num(value: Decimal) -> str:
    """An exact decimal as plain text (no exponent, no trailing zeros); never rounds."""
    if value != value.quantize(USD_STEP):
        raise ValueError(f"{value} has more than 10 decimals")
    return usd(value)


def jdump(obj: object) -> str:
    """Compact JSON; Decimal values are written as exact JSON numbers (never floats)."""
    if isinstance(obj, Decimal):
        return num(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{jdump(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(jdump(v) for v in obj) + "]"
    return json.dumps(obj)


def json_line(obj: dict[str, object]) -> str:
    return jdump(obj) + "\n"


OR_HEADER = (
    "generation_id",
    "created_at",
    "cost_total",
    "cost_web_search",
    "cost_cache",
    "cost_file_processing",
    "byok_usage_inference",
    "tokens_prompt",
    "tokens_completion",
    "tokens_reasoning",
    "tokens_cached",
    "model_permaslug",
    "provider_name",
    "variant",
    "cancelled",
    "streamed",
    "user",
    "finish_reason_raw",
    "finish_reason_normalized",
    "generation_time_ms",
    "time_to_first_token_ms",
    "api_key_disabled",
    "api_key_name",
    "app_name",
)
RAW_FINISH = {
    "anthropic": {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"},
    "google": {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"},
}


def on_openrouter(reqs: Sequence[Request]) -> list[Request]:
    return [r for r in reqs if r.channel.startswith("openrouter")]


def write_openrouter_generations(reqs: Sequence[Request], path: Path) -> FileStats:
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(OR_HEADER)
        for r in on_openrouter(reqs):
            cost = r.cost() or Decimal(0)
            finish_raw = RAW_FINISH.get(r.model.vendor, {}).get(r.finish, r.finish)
            w.writerow(
                (
                    r.request_id,
                    or_created_at(r.t_ms),
                    usd(cost),
                    "0",
                    "0",
                    "0",
                    "0",
                    r.prompt_tokens,
                    r.output,
                    r.reasoning,
                    r.cached,
                    r.model.or_permaslug,
                    r.or_provider,
                    "standard",
                    str(r.status == "cancelled").lower(),
                    str(r.streamed).lower(),
                    r.stream.user or "",
                    "" if r.status != "ok" else finish_raw,
                    r.finish,
                    r.latency_ms,
                    r.ttft_ms if r.status != "error" else 0,
                    str(r.key.disabled).lower(),
                    r.key.name,
                    r.stream.app or "",
                )
            )
            stats.rows += 1
            stats.cost += cost
            stats.errors += r.status == "error"
    return stats


def write_openrouter_activity(reqs: Sequence[Request], path: Path) -> FileStats:
    groups: dict[tuple[str, str], list] = {}
    for r in on_openrouter(reqs):
        day = f"{datetime.fromtimestamp(r.t_ms / 1000, UTC):%Y-%m-%d} 00:00:00"
        g = groups.setdefault((day, r.model.or_slug or ""), [Decimal(0), 0, 0, 0, 0])
        g[0] += Decimal(usd(r.cost() or Decimal(0)))  # the same rounding as the generations file
        g[1] += 1
        g[2] += r.prompt_tokens
        g[3] += r.output
        g[4] += r.reasoning
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(
            (
                "Date",
                "Slug",
                "Usage",
                "BYOK Usage",
                "Requests",
                "Prompt Tokens",
                "Completion Tokens",
                "Reasoning Tokens",
            )
        )
        for (day, slug), (usage, n, prompt, completion, reasoning) in sorted(groups.items()):
            w.writerow((day, slug, usd(usage), "0", n, prompt, completion, reasoning))
            stats.rows += 1
            stats.cost += usage
    return stats


def gateway_line(r: Request) -> dict[str, object]:
    s = r.stream
    if r.ts_style == "epoch":
        ts: object = r.t_ms
    elif r.ts_style == "offset":
        ts = iso_offset(r.t_ms, 2)
    else:
        ts = iso_z(r.t_ms)
    double_logged = r.channel == "openrouter+gateway"
    mirrored = r.channel == "litellm+gateway"
    line: dict[str, object] = {
        "request_id": r.request_id,
        "timestamp": ts,
        "provider": billed_by(r),
        "model": r.model.or_slug if double_logged else r.model_id,
        "input_tokens": r.uncached,
        "cached_input_tokens": r.cached,
    }
    if r.write_5m or r.write_1h:
        line["cache_write_tokens"] = r.write_5m + r.write_1h
    if r.write_1h:
        line["cache_write_1h_tokens"] = r.write_1h
    line["output_tokens"] = r.output
    if r.model.reasoning != "never":
        line["reasoning_tokens"] = r.reasoning
    line["api_key"] = r.logged_api_key
    line["key_name"] = r.key.name
    for name in ("user", "team", "project", "environment"):
        if getattr(s, name):
            line[name] = getattr(s, name)
    if r.purpose:
        line["purpose"] = r.purpose
    if s.app:
        line["app"] = s.app
    if r.session_id and s.pattern != "stale-key":
        line["session_id"] = r.session_id
    line["prompt_hash"] = r.prompt_hash
    line["status"] = r.status
    line["http_status"] = r.http_status
    if r.error_type:
        line["error_type"] = r.error_type
    line["latency_ms"] = r.latency_ms
    if r.outcome:
        line["outcome"] = r.outcome
    cost = r.cost()
    if s.log_cost and cost is not None:
        line["cost_usd"] = Decimal(usd(cost))
    meta: dict[str, object] = {"region": s.region, "gateway": GATEWAY_VERSION}
    if r.prefix_hash:
        meta["prefix_hash"] = r.prefix_hash
    if double_logged:
        meta["upstream"] = "openrouter"
        meta["openrouter_provider"] = r.or_provider
    if mirrored:
        meta["upstream"] = "litellm-proxy"
    meta.update(r.metadata)
    line["metadata"] = meta
    for name in s.gateway_omit:
        line.pop(name, None)
    return line


def write_gateway_jsonl(reqs: Sequence[Request], path: Path) -> FileStats:
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        for r in reqs:
            if r.channel in GATEWAY_CHANNELS:
                fh.write(json_line(gateway_line(r)))
                stats.rows += 1
                cost = r.cost()
                stats.cost += cost or Decimal(0)
                stats.unpriced += cost is None
                stats.errors += r.status == "error"
    return stats


def fingerprint(model: Model) -> str:
    return "fp_" + hashlib.sha256(model.snapshot.encode()).hexdigest()[:10]


def response_object(r: Request) -> dict[str, object]:
    created = r.t_ms // 1000
    prompt = r.uncached + r.cached
    if r.response_api == "messages":
        usage: dict[str, object] = {
            "input_tokens": r.uncached,
            "cache_creation_input_tokens": r.write_5m + r.write_1h,
            "cache_read_input_tokens": r.cached,
        }
        if r.stream.cache_1h:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": r.write_5m,
                "ephemeral_1h_input_tokens": r.write_1h,
            }
        usage["output_tokens"] = r.output
        usage["service_tier"] = "standard"
        return {
            "id": r.request_id,
            "type": "message",
            "role": "assistant",
            "model": r.model.snapshot,
            "stop_reason": RAW_FINISH["anthropic"].get(r.finish, "end_turn"),
            "stop_sequence": None,
            "usage": usage,
        }
    if r.response_api == "responses":
        return {
            "id": r.request_id,
            "object": "response",
            "created_at": created,
            "status": "completed",
            "model": r.model.snapshot,
            "service_tier": "default",
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": r.cached},
                "output_tokens": r.output,
                "output_tokens_details": {"reasoning_tokens": r.reasoning},
                "total_tokens": prompt + r.output,
            },
        }
    return {
        "id": r.request_id,
        "object": "chat.completion",
        "created": created,
        "model": r.model.snapshot,
        "service_tier": "default",
        "system_fingerprint": fingerprint(r.model),
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": r.output,
            "total_tokens": prompt + r.output,
            "prompt_tokens_details": {"cached_tokens": r.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": r.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def write_agent_jsonl(reqs: Sequence[Request], path: Path) -> FileStats:
    stats = FileStats()
    steps: dict[str, int] = {}
    with path.open("w", newline="", encoding="utf-8") as fh:
        for r in reqs:
            if r.channel != "agent":
                continue
            s = r.stream
            steps[r.session_id or ""] = steps.get(r.session_id or "", 0) + 1
            meta = {
                "user": s.user,
                "team": s.team,
                "project": s.project,
                "purpose": r.purpose,
                "environment": s.environment,
                "app": s.app,
                "key_name": r.key.name,
                "run_id": r.session_id,
                "step": steps[r.session_id or ""],
            }
            fh.write(
                json_line(
                    {"timestamp": iso_z(r.t_ms), "metadata": meta, "response": response_object(r)}
                )
            )
            stats.rows += 1
            stats.cost += r.cost() or Decimal(0)
    return stats


# ---------------------------------------------------------------------------- shared helpers
# Every writer below derives its own extra ids from names with ``derived`` (a string-seeded
# RNG), so writers never share RNG state and their order cannot change anyone's output.


def derived(alphabet: str, n: int, *parts: object) -> str:
    """Deterministic text from a name: the same parts always give the same text."""
    return "".join(random.Random("|".join(map(str, parts))).choices(alphabet, k=n))


def derived_uuid(*parts: object) -> str:
    return uuid_text(derived(HEX, 32, *parts))


def day_of(t_ms: int) -> int:
    """Day index of an instant (0 = June 1, UTC; May's days are -31 .. -1)."""
    return (t_ms - START_MS) // DAY_MS


def day_iso(day: int) -> str:
    return (date(2026, 6, 1) + timedelta(days=day)).isoformat()


def day_start_s(day: int) -> int:
    return START_MS // 1000 + day * 86_400


def iso_space(t_ms: int, digits: int = 3) -> str:
    """``2026-06-03 09:12:44.123`` (no offset; UTC by convention), ms or µs."""
    dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    frac = f"{t_ms % 1000:03d}" + "0" * (digits - 3)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{frac}"


def iso_seconds(t_ms: int) -> str:
    return f"{datetime.fromtimestamp(t_ms / 1000, UTC):%Y-%m-%dT%H:%M:%SZ}"


def on_channel(reqs: Sequence[Request], *channels: str) -> list[Request]:
    return [r for r in reqs if r.channel in channels]


def on_provider(reqs: Sequence[Request], provider: str) -> list[Request]:
    return [r for r in reqs if billed_by(r) == provider]


def billable(reqs: Sequence[Request], period: Period = JUNE) -> list[Request]:
    """What the providers bill: every logged request plus the unlogged traffic."""
    return [*reqs, *unlogged_requests(reqs, period)]


def cost_or_zero(r: Request) -> Decimal:
    return r.cost() or Decimal(0)


def request_stats(rs: Sequence[Request], rows: int | None = None) -> FileStats:
    costs = [r.cost() for r in rs]
    return FileStats(
        rows=len(rs) if rows is None else rows,
        cost=sum((c for c in costs if c is not None), Decimal(0)),
        unpriced=sum(c is None for c in costs),
        errors=sum(r.status == "error" for r in rs),
        requests=len(rs),
    )


@dataclass
class Tally:
    """Token and cost totals of a group of requests (one aggregate bucket)."""

    calls: int = 0  # every call, failed or not
    charged: int = 0  # calls that consumed tokens
    uncached: int = 0
    cached: int = 0
    write_5m: int = 0
    write_1h: int = 0
    output: int = 0
    reasoning: int = 0
    cost: Decimal = Decimal(0)
    cost_rounded: Decimal = Decimal(0)  # sum of per-request costs as the OpenRouter CSV writes them

    def add(self, r: Request) -> None:
        self.calls += 1
        self.charged += r.prompt_tokens + r.output > 0
        self.uncached += r.uncached
        self.cached += r.cached
        self.write_5m += r.write_5m
        self.write_1h += r.write_1h
        self.output += r.output
        self.reasoning += r.reasoning
        self.cost += cost_or_zero(r)
        self.cost_rounded += Decimal(usd(cost_or_zero(r)))

    @property
    def prompt(self) -> int:
        return self.uncached + self.cached + self.write_5m + self.write_1h

    @property
    def tokens(self) -> int:
        return self.prompt + self.output


Key = tuple[int | str, ...]


def tally(reqs: Sequence[Request], key: Callable[[Request], Key]) -> dict[Key, Tally]:
    """Group requests by ``key`` (a sortable tuple), sorted by key."""
    out: dict[Key, Tally] = {}
    for r in reqs:
        out.setdefault(key(r), Tally()).add(r)
    return dict(sorted(out.items()))


Charge = tuple[str, int, Decimal, Decimal]  # token type, tokens, list price per 1M, cost


def charges(model: Model, t: Tally) -> list[Charge]:
    """A bucket's cost split by token type, exactly (the parts add up to the requests' costs)."""
    p = model.price
    assert p is not None
    parts = (
        ("input", t.uncached, p.input),
        ("cache_read", t.cached, p.cached),
        ("cache_write_5m", t.write_5m, p.write_5m),
        ("cache_write_1h", t.write_1h, p.write_1h),
        ("output", t.output, p.output),
    )
    return [(name, n, price, n * price / MILLION) for name, n, price in parts if n]


def vendor_key(r: Request) -> str:
    """The provider API key that paid for a direct call (what billing exports group by)."""
    if r.channel == "gateway":
        return "llm-gateway"
    if r.channel in ("litellm", "litellm+gateway"):
        return "litellm-proxy"
    if r.channel == "portkey":
        return "portkey-copy-studio"
    return r.key.name  # forge-*, support-bot-*, eval-runner, claude_code_key_*, legacy-batch-key


# --- provider-side ids (OpenAI projects and keys, Anthropic workspaces and keys, AWS) --------
OPENAI_ORG_ID = "org-" + derived(ALNUM, 24, "openai-org")
OPENAI_ORG_NAME = "Acme Robotics"
OPENAI_PRODUCTION_KEYS = ("support-bot-prod", "litellm-proxy", "portkey-copy-studio")
ANTHROPIC_DISPLAY = {
    "claude-opus-4-8": "Claude Opus 4.8",
    "claude-sonnet-4-6": "Claude Sonnet 4.6",
    "claude-haiku-4-5": "Claude Haiku 4.5",
}
CC_WORKSPACE_ID = "wrkspc_01" + derived(ALNUM, 22, "anthropic-workspace", "Claude Code")
AWS_ACCOUNT = "345678901234"
AWS_PAYER = "210987654321"
AWS_REGION = "eu-central-1"
UPPER36 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def openai_key_id(name: str) -> str:
    return "key_" + derived(ALNUM, 16, "openai-key", name)


def openai_project(key_name: str) -> tuple[str, str]:
    name = "Production" if key_name in OPENAI_PRODUCTION_KEYS else "Engineering"
    return "proj_" + derived(ALNUM, 24, "openai-project", name), name


def anthropic_key_id(name: str) -> str:
    return "apikey_01" + derived(ALNUM, 22, "anthropic-key", name)


def anthropic_workspace(key_name: str) -> tuple[str | None, str]:
    """(workspace id, name); the default workspace has no id in the Admin API."""
    if key_name.startswith("claude_code_key_"):
        return CC_WORKSPACE_ID, "Claude Code"
    return None, "Default"


# ---------------------------------------------------------------------------- OpenRouter API


def write_openrouter_activity_json(reqs: Sequence[Request], path: Path) -> FileStats:
    """``GET /api/v1/activity``: one item per UTC day x model x endpoint (upstream provider)."""
    groups = tally(
        on_openrouter(reqs),
        lambda r: (day_of(r.t_ms), r.model.or_slug or "", r.or_provider, r.model.key),
    )
    items = []
    stats = FileStats()
    for (day, slug, provider, mkey), t in groups.items():
        items.append(
            {
                "date": day_iso(int(day)),
                "model": slug,
                "model_permaslug": MODELS[str(mkey)].or_permaslug,
                "endpoint_id": derived_uuid("openrouter-endpoint", slug, provider),
                "provider_name": provider,
                "usage": t.cost_rounded,  # the same per-request rounding as the CSVs
                "byok_usage_inference": 0,
                "requests": t.calls,
                "prompt_tokens": t.prompt,
                "completion_tokens": t.output,
                "reasoning_tokens": t.reasoning,
            }
        )
        stats.rows += 1
        stats.cost += t.cost_rounded
    path.write_text(jdump({"data": items}) + "\n", encoding="utf-8")
    return stats


def openrouter_generation(r: Request) -> dict[str, object]:
    """``GET /api/v1/generation?id=…`` response for one request of the generations CSV."""
    cost = Decimal(usd(cost_or_zero(r)))
    p = r.model.price
    assert p is not None
    # tokens_* are normalised (GPT-4o tokenizer) counts; native_tokens_* are the billed ones
    ratio = Decimal(1) if r.model.vendor == "openai" else Decimal("0.93")
    ok = r.status == "ok"
    finish_raw = RAW_FINISH.get(r.model.vendor, {}).get(r.finish, r.finish)
    created = datetime.fromtimestamp(r.t_ms / 1000, UTC)
    return {
        "data": {
            "id": r.request_id,
            "upstream_id": derived("abcdef0123456789", 24, "or-upstream", r.request_id),
            "total_cost": cost,
            "cache_discount": r.cached * (p.input - p.cached) / MILLION if r.cached else None,
            "upstream_inference_cost": None,
            "created_at": f"{created:%Y-%m-%dT%H:%M:%S}.{r.t_ms % 1000:03d}000+00:00",
            "model": r.model.or_slug,
            "app_id": None,
            "streamed": r.streamed,
            "cancelled": r.status == "cancelled",
            "provider_name": r.or_provider,
            "latency": r.ttft_ms if r.status != "error" else None,
            "moderation_latency": None,
            "generation_time": r.latency_ms,
            "finish_reason": r.finish if ok else None,
            "native_finish_reason": finish_raw if ok else None,
            "tokens_prompt": round(r.prompt_tokens * ratio),
            "tokens_completion": round(r.output * ratio),
            "native_tokens_prompt": r.prompt_tokens,
            "native_tokens_completion": r.output,
            "native_tokens_completion_images": 0,
            "native_tokens_reasoning": r.reasoning,
            "native_tokens_cached": r.cached,
            "num_media_prompt": None,
            "num_input_audio_prompt": None,
            "num_media_completion": 0,
            "num_search_results": None,
            "origin": "",
            "usage": cost,
            "is_byok": False,
            "api_type": "completions",
            "external_user": r.stream.user,
            "router": None,
            "request_id": "req-" + derived(ALNUM, 20, "or-request", r.request_id),
            "session_id": None,
            "service_tier": None,
            "data_region": "global",
            "http_referer": None,
            "user_agent": None,
            "web_search_engine": None,
            "workspace_id": None,
            "preset_id": None,
            "response_cache_source_id": None,
            "num_fetches": None,
            "provider_responses": [
                {
                    "endpoint_id": derived_uuid(
                        "openrouter-endpoint", r.model.or_slug, r.or_provider
                    ),
                    "id": derived("abcdef0123456789", 24, "or-upstream", r.request_id),
                    "is_byok": False,
                    "latency": r.ttft_ms,
                    "model_permaslug": r.model.or_permaslug,
                    "provider_name": r.or_provider,
                    "status": 200,
                }
            ],
        }
    }


def generation_samples(reqs: Sequence[Request]) -> list[Request]:
    """A few requests looked up one by one with the generation API (all in the generations CSV)."""
    rows = on_openrouter(reqs)
    picks: list[Callable[[Request], bool]] = [
        lambda r: r.channel == "openrouter+gateway" and r.status == "ok",
        lambda r: r.model.vendor == "anthropic" and r.cached > 0,
        lambda r: r.model.key == "gemini-2.5-pro" and r.reasoning > 0,
        lambda r: r.model.key == "deepseek-v4-flash" and r.cached > 0,
        lambda r: r.status == "cancelled",
        lambda r: r.key.disabled,
    ]
    chosen: list[Request] = []
    for pick in picks:
        found = next((r for r in rows if pick(r) and r not in chosen), None)
        if found is not None:
            chosen.append(found)
    return sorted(chosen, key=lambda r: (r.t_ms, r.seq))


def write_openrouter_generation_api(reqs: Sequence[Request], path: Path) -> FileStats:
    chosen = generation_samples(reqs)
    path.write_text("".join(json_line(openrouter_generation(r)) for r in chosen), encoding="utf-8")
    return request_stats(chosen)


# ---------------------------------------------------------------------------- Helicone


def helicone_properties(r: Request) -> dict[str, str]:
    """Helicone-Property-* headers (keys arrive lower-cased) plus the session headers."""
    s = r.stream
    props = {
        "app": s.app or "",
        "environment": s.environment or "",
        "team": s.team or "",
        "project": s.project or "",
        "purpose": r.purpose or "",
    }
    props.update({k: str(v) for k, v in r.metadata.items()})
    if r.prefix_hash:
        props["prefix_hash"] = r.prefix_hash
    props["Helicone-Session-Id"] = r.session_id or ""
    props["Helicone-Session-Name"] = "support-ticket"
    return props


def write_helicone_jsonl(reqs: Sequence[Request], path: Path) -> FileStats:
    """``npx @helicone/export --format jsonl``: one query-clickhouse record per request."""
    rs = on_channel(reqs, "helicone")
    with path.open("w", newline="", encoding="utf-8") as fh:
        for r in rs:
            ok = r.status == "ok"
            writes = r.write_5m + r.write_1h
            vendor = r.model.vendor
            fh.write(
                json_line(
                    {
                        "request_id": r.request_id,
                        "response_id": derived_uuid("helicone-response", r.request_id),
                        "request_created_at": iso_z(r.t_ms),
                        "response_created_at": iso_z(r.t_ms + r.latency_ms),
                        "response_status": r.http_status or 200,
                        "provider": vendor.upper(),
                        "request_model": r.model_id,
                        "response_model": r.model.snapshot if ok else None,
                        "model_override": None,
                        # prompt_tokens are the fresh (uncached) tokens, as Helicone prices them
                        "prompt_tokens": r.uncached,
                        "completion_tokens": r.output,
                        "total_tokens": r.uncached + r.output,
                        "prompt_cache_read_tokens": r.cached,
                        "prompt_cache_write_tokens": writes,
                        "prompt_audio_tokens": 0,
                        "completion_audio_tokens": 0,
                        "cost": cost_or_zero(r),
                        "delay_ms": r.latency_ms,
                        "time_to_first_token": r.ttft_ms if ok else None,
                        "request_user_id": "support-bot",
                        "request_properties": helicone_properties(r),
                        "target_url": "https://api.anthropic.com/v1/messages"
                        if vendor == "anthropic"
                        else "https://api.openai.com/v1/chat/completions",
                        "country_code": "DE",
                        "cache_enabled": False,
                        "cache_reference_id": "00000000-0000-0000-0000-000000000000",
                        "prompt_id": None,
                        "prompt_version": None,
                        "scores": {},
                        "storage_location": "s3",
                    }
                )
            )
    return request_stats(rs)


HELICONE_CSV_COLUMNS = (
    "response_id,response_created_at,response_status,request_created_at,request_body,"
    "request_properties,request_user_id,model,prompt_tokens,completion_tokens,latency,"
    "cost"
)
HELICONE_CSV_HEADER = tuple(HELICONE_CSV_COLUMNS.split(","))


def write_helicone_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """``npx @helicone/export --format csv`` for the staging organisation (no cache columns)."""
    rs = on_channel(reqs, "helicone-csv")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(HELICONE_CSV_HEADER)
        for r in rs:
            assert r.cached == r.write_5m == r.write_1h == 0  # the CSV cannot say otherwise
            w.writerow(
                (
                    r.request_id,
                    iso_space(r.t_ms + r.latency_ms),
                    r.http_status or 200,
                    iso_space(r.t_ms),
                    "",
                    json.dumps(helicone_properties(r), separators=(",", ":")),
                    "support-bot-staging",
                    r.model_id,
                    r.uncached,
                    r.output,
                    r.latency_ms,
                    usd(cost_or_zero(r)),
                )
            )
    return request_stats(rs)


# ---------------------------------------------------------------------------- OpenAI exports


def openai_usage(reqs: Sequence[Request]) -> dict[Key, Tally]:
    """Usage grouped as the exports are: day x model x API key (and so project)."""
    rs = [r for r in on_provider(reqs, "openai") if r.prompt_tokens + r.output]
    return tally(rs, lambda r: (day_of(r.t_ms), r.model.key, vendor_key(r)))


def openai_line_items(reqs: Sequence[Request]) -> list[tuple[int, str, str, Charge]]:
    """(day, line item, project name, charge) per day x project x model x token type."""
    rs = [r for r in on_provider(reqs, "openai") if r.prompt_tokens + r.output]
    groups = tally(rs, lambda r: (day_of(r.t_ms), openai_project(vendor_key(r))[1], r.model.key))
    label = {"input": "input", "cache_read": "cached input", "output": "output"}
    out = []
    for (day, project, mkey), t in groups.items():
        model = MODELS[str(mkey)]
        for charge in charges(model, t):
            out.append((int(day), f"{model.snapshot}, {label[charge[0]]}", str(project), charge))
    return out


def openai_usage_result(mkey: str, key_name: str, t: Tally) -> dict[str, object]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": t.prompt,
        "output_tokens": t.output,
        "input_cached_tokens": t.cached,
        "input_cache_write_tokens": 0,
        "input_uncached_tokens": t.uncached,
        "input_text_tokens": t.prompt,
        "output_text_tokens": t.output,
        "input_cached_text_tokens": t.cached,
        "input_audio_tokens": 0,
        "input_cached_audio_tokens": 0,
        "output_audio_tokens": 0,
        "input_image_tokens": 0,
        "input_cached_image_tokens": 0,
        "output_image_tokens": 0,
        "num_model_requests": t.charged,
        "project_id": openai_project(key_name)[0],
        "user_id": None,
        "api_key_id": openai_key_id(key_name),
        "model": MODELS[mkey].snapshot,
        "batch": None,
        "service_tier": None,
    }


def write_openai_usage_json(reqs: Sequence[Request], path: Path) -> FileStats:
    """Usage API, bucket_width=1d, group_by model, project_id, api_key_id; one page."""
    usage = openai_usage(reqs)
    stats = FileStats()
    buckets = []
    for day in range(DAYS):
        results = []
        for (d, mkey, key_name), t in usage.items():
            if d == day:
                results.append(openai_usage_result(str(mkey), str(key_name), t))
                stats.rows += 1
                stats.cost += t.cost
        start = day_start_s(day)
        buckets.append(
            {
                "object": "bucket",
                "start_time": start,
                "end_time": start + 86_400,
                "results": results,
            }
        )
    page = {"object": "page", "data": buckets, "has_more": False, "next_page": None}
    path.write_text(jdump(page) + "\n", encoding="utf-8")
    return stats


def write_openai_costs_json(
    reqs: Sequence[Request], path: Path, period: Period = JUNE
) -> FileStats:
    """Costs API, bucket_width=1d, group_by line_item and project_id; one page (limit 31)."""
    stats = FileStats()
    by_day: dict[int, list[dict[str, object]]] = {d: [] for d in period.day_indexes}
    for day, item, project, (_, tokens, _, cost) in openai_line_items(reqs):
        by_day[day].append(
            {
                "object": "organization.costs.result",
                "amount": {"value": cost, "currency": "usd"},
                "line_item": item,
                "project_id": "proj_" + derived(ALNUM, 24, "openai-project", project),
                "api_key_id": None,
                "quantity": tokens,
                "quantity_unit": "tokens",
            }
        )
        stats.rows += 1
        stats.cost += cost
    buckets = [
        {
            "object": "bucket",
            "start_time": day_start_s(d),
            "end_time": day_start_s(d) + 86_400,
            "results": results,
        }
        for d, results in by_day.items()
    ]
    page = {"object": "page", "data": buckets, "has_more": False, "next_page": None}
    path.write_text(jdump(page) + "\n", encoding="utf-8")
    return stats


def long_decimal(value: Decimal) -> str:
    """``0.003835980000000000000000000000``: exact, padded to 30 decimals as OpenAI writes it."""
    whole, _, frac = num(value).partition(".")
    return f"{whole}.{frac.ljust(30, '0')}"


def _openai_times(day: int) -> tuple[int, int, str, str]:
    start = day_start_s(day)
    end_day = date(2026, 6, 1) + timedelta(days=day + 1)
    return start, start + 86_400, f"{day_iso(day)}T00:00:00+00:00", f"{end_day}T00:00:00+00:00"


OPENAI_COST_COLUMNS = (
    "start_time,end_time,start_time_iso,end_time_iso,amount_value,amount_currency,"
    "quantity,quantity_unit,line_item,user_id,api_key_id,project_id,organization_id,"
    "project_name,organization_name,user_email,api_source"
)
OPENAI_COST_HEADER = tuple(OPENAI_COST_COLUMNS.split(","))


def write_openai_cost_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """Dashboard Cost export grouped by project and line item (latest 17-column header)."""
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(OPENAI_COST_HEADER)
        for day, item, project, (_, tokens, _, cost) in openai_line_items(reqs):
            w.writerow(
                (
                    *_openai_times(day),
                    long_decimal(cost),
                    "usd",
                    tokens,
                    "tokens",
                    item,
                    "",
                    "",
                    "proj_" + derived(ALNUM, 24, "openai-project", project),
                    OPENAI_ORG_ID,
                    project,
                    OPENAI_ORG_NAME,
                    "",
                    "",
                )
            )
            stats.rows += 1
            stats.cost += cost
    return stats


OPENAI_ACTIVITY_COLUMNS = (
    "start_time,end_time,start_time_iso,end_time_iso,project_id,num_model_requests,"
    "user_id,api_key_id,model,batch,service_tier,input_tokens,output_tokens,"
    "input_cached_tokens,input_uncached_tokens,input_text_tokens,output_text_tokens,"
    "input_cached_text_tokens,input_audio_tokens,input_cached_audio_tokens,"
    "output_audio_tokens,input_image_tokens,input_cached_image_tokens,"
    "output_image_tokens"
)
OPENAI_ACTIVITY_HEADER = tuple(OPENAI_ACTIVITY_COLUMNS.split(","))


def write_openai_activity_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """Dashboard Activity export grouped by project, API key and model (per day)."""
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(OPENAI_ACTIVITY_HEADER)
        for (day, mkey, key_name), t in openai_usage(reqs).items():
            result = openai_usage_result(str(mkey), str(key_name), t)
            values = ["" if result[c] is None else result[c] for c in OPENAI_ACTIVITY_HEADER[4:]]
            w.writerow((*_openai_times(int(day)), *values))
            stats.rows += 1
            stats.cost += t.cost
    return stats


# ---------------------------------------------------------------------------- Anthropic exports

ANTHROPIC_TOKEN_TYPES = {  # our part -> (cost report token_type, console token_type, description)
    "input": ("uncached_input_tokens", "input_no_cache", "Input Tokens"),
    "cache_read": ("cache_read_input_tokens", "input_cache_read", "Cache Read Input Tokens"),
    "cache_write_5m": (
        "cache_creation.ephemeral_5m_input_tokens",
        "input_cache_write_5m",
        "Cache Write Input Tokens (5m)",
    ),
    "cache_write_1h": (
        "cache_creation.ephemeral_1h_input_tokens",
        "input_cache_write_1h",
        "Cache Write Input Tokens (1h)",
    ),
    "output": ("output_tokens", "output", "Output Tokens"),
}


def anthropic_usage(reqs: Sequence[Request], period: Period = JUNE) -> dict[Key, Tally]:
    """Everything Anthropic billed (logs + unlogged), per day x model x key."""
    rs = [r for r in on_provider(billable(reqs, period), "anthropic") if r.prompt_tokens + r.output]
    return tally(rs, lambda r: (day_of(r.t_ms), r.model.key, vendor_key(r)))


def write_anthropic_usage_json(reqs: Sequence[Request], path: Path) -> FileStats:
    """usage_report/messages, bucket_width=1d, group_by model, api_key_id, workspace_id."""
    usage = anthropic_usage(reqs)
    stats = FileStats()
    buckets = []
    for day in range(DAYS):
        results = []
        for (d, mkey, key_name), t in usage.items():
            if d != day:
                continue
            results.append(
                {
                    "uncached_input_tokens": t.uncached,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": t.write_5m,
                        "ephemeral_1h_input_tokens": t.write_1h,
                    },
                    "cache_read_input_tokens": t.cached,
                    "output_tokens": t.output,
                    "server_tool_use": {"web_search_requests": 0},
                    "api_key_id": anthropic_key_id(str(key_name)),
                    "workspace_id": anthropic_workspace(str(key_name))[0],
                    "model": MODELS[str(mkey)].snapshot,
                    "service_tier": None,
                    "context_window": None,
                    "inference_geo": None,
                }
            )
            stats.rows += 1
            stats.cost += t.cost
        buckets.append(
            {
                "starting_at": f"{day_iso(day)}T00:00:00Z",
                "ending_at": f"{day_iso(day + 1)}T00:00:00Z",
                "results": results,
            }
        )
    path.write_text(
        jdump({"data": buckets, "has_more": False, "next_page": None}) + "\n", encoding="utf-8"
    )
    return stats


def anthropic_charges(
    reqs: Sequence[Request], period: Period = JUNE
) -> list[tuple[int, str, str, Charge]]:
    """(day, model key, key name, charge) per day x model x key x token type."""
    out = []
    for (day, mkey, key_name), t in anthropic_usage(reqs, period).items():
        for charge in charges(MODELS[str(mkey)], t):
            out.append((int(day), str(mkey), str(key_name), charge))
    return out


def write_anthropic_cost_json(
    reqs: Sequence[Request], path: Path, period: Period = JUNE
) -> FileStats:
    """cost_report, group_by workspace_id and description; ``amount`` in cents as a string."""
    groups: dict[tuple[int, str, str, str], Decimal] = {}
    for day, mkey, key_name, (part, _, _, cost) in anthropic_charges(reqs, period):
        workspace = anthropic_workspace(key_name)[0] or ""
        k = (day, workspace, mkey, part)
        groups[k] = groups.get(k, Decimal(0)) + cost
    stats = FileStats()
    by_day: dict[int, list[dict[str, object]]] = {d: [] for d in period.day_indexes}
    order = list(ANTHROPIC_TOKEN_TYPES)
    for (day, workspace, mkey, part), cost in sorted(
        groups.items(), key=lambda kv: (*kv[0][:3], order.index(kv[0][3]))
    ):
        token_type, _, label = ANTHROPIC_TOKEN_TYPES[part]
        by_day[day].append(
            {
                "currency": "USD",
                "amount": num(cost * 100),
                "workspace_id": workspace or None,
                "description": f"{ANTHROPIC_DISPLAY[mkey]} Usage - {label}",
                "cost_type": "tokens",
                "context_window": "0-200k",
                "model": MODELS[mkey].snapshot,
                "service_tier": "standard",
                "token_type": token_type,
                "inference_geo": None,
            }
        )
        stats.rows += 1
        stats.cost += cost
    buckets = [
        {
            "starting_at": f"{day_iso(d)}T00:00:00Z",
            "ending_at": f"{day_iso(d + 1)}T00:00:00Z",
            "results": results,
        }
        for d, results in by_day.items()
    ]
    path.write_text(
        jdump({"data": buckets, "has_more": False, "next_page": None}) + "\n", encoding="utf-8"
    )
    return stats


ANTHROPIC_USAGE_CSV_COLUMNS = (
    "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,"
    "usage_input_tokens_no_cache,usage_input_tokens_cache_write_5m,"
    "usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
    "usage_output_tokens,web_search_count,inference_geo,speed"
)
ANTHROPIC_USAGE_CSV_HEADER = tuple(ANTHROPIC_USAGE_CSV_COLUMNS.split(","))


def write_anthropic_usage_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """Console usage export (daily): day x model x key name x workspace, tokens only."""
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ANTHROPIC_USAGE_CSV_HEADER)
        for (day, mkey, key_name), t in anthropic_usage(reqs).items():
            w.writerow(
                (
                    day_iso(int(day)),
                    MODELS[str(mkey)].snapshot,
                    key_name,
                    anthropic_workspace(str(key_name))[1],
                    "standard",
                    "≤ 200k",
                    t.uncached,
                    t.write_5m,
                    t.write_1h,
                    t.cached,
                    t.output,
                    0,
                    "not_available",
                    "",
                )
            )
            stats.rows += 1
            stats.cost += t.cost
    return stats


CENT = Decimal("0.01")


ANTHROPIC_COST_CSV_COLUMNS = (
    "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,"
    "cost_usd,cost_type,inference_geo,speed"
)
ANTHROPIC_COST_CSV_HEADER = tuple(ANTHROPIC_COST_CSV_COLUMNS.split(","))


def write_anthropic_cost_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """Console cost export: day x model (display name) x key x token type, USD to the cent.

    The largest charge of the month is written as two lines with identical keys (a whole-dollar
    part and the rest), as the Console sometimes does; their rounded sum is the rounded whole.
    """
    rows = anthropic_charges(reqs)
    largest = max(range(len(rows)), key=lambda i: (rows[i][3][3], -i))
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ANTHROPIC_COST_CSV_HEADER)
        for i, (day, mkey, key_name, (part, _, _, cost)) in enumerate(rows):
            whole = Decimal(int(cost))
            parts = [whole, cost - whole] if i == largest and whole >= 1 else [cost]
            for amount in parts:
                shown = amount.quantize(CENT, rounding=ROUND_HALF_UP)
                w.writerow(
                    (
                        day_iso(day),
                        ANTHROPIC_DISPLAY[mkey],
                        anthropic_workspace(key_name)[1],
                        key_name,
                        "message",
                        "≤ 200k",
                        ANTHROPIC_TOKEN_TYPES[part][1],
                        f"{shown:.2f}",
                        "token",
                        "not_available",
                        "",
                    )
                )
                stats.rows += 1
                stats.cost += shown
    return stats


# ---------------------------------------------------------------------------- LiteLLM

LITELLM_GROUPS = {
    "claude-sonnet-4-6": "claude-sonnet",
    "gpt-4.1": "gpt-4.1",
    "gemini-2.5-flash": "gemini-flash",
}
LITELLM_BASES = {
    "anthropic": "https://api.anthropic.com/v1/messages",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}
LITELLM_ERRORS = {
    "rate_limit": "RateLimitError",
    "server_error": "InternalServerError",
    "timeout": "Timeout",
    "invalid_request": "BadRequestError",
}


def litellm_usage(r: Request) -> dict[str, object]:
    """LiteLLM's OpenAI-shaped usage: prompt_tokens = input + cache reads; writes apart."""
    usage: dict[str, object] = {
        "prompt_tokens": r.uncached + r.cached,
        "completion_tokens": r.output,
        "total_tokens": r.uncached + r.cached + r.output,
        "prompt_tokens_details": {"cached_tokens": r.cached},
    }
    if r.model.vendor == "anthropic":
        usage["cache_creation_input_tokens"] = r.write_5m + r.write_1h
        usage["cache_read_input_tokens"] = r.cached
        usage["completion_tokens_details"] = None
    else:
        usage["completion_tokens_details"] = {"reasoning_tokens": r.reasoning}
    return usage


def litellm_row(r: Request) -> dict[str, object]:
    s = r.stream
    ok = r.status == "ok"
    provider = "gemini" if r.model.vendor == "google" else r.model.vendor
    key_hash = hashlib.sha256(f"sk-litellm-{r.key.name}".encode()).hexdigest()
    team_id = derived_uuid("litellm-team", s.team)
    spend_meta: dict[str, object] = {
        "app": s.app,
        "purpose": r.purpose,
        "project": s.project,
        "environment": s.environment,
    }
    spend_meta.update(r.metadata)
    if r.prefix_hash:
        spend_meta["prefix_hash"] = r.prefix_hash
    error = None
    if not ok:
        error = {
            "error_code": str(r.http_status),
            "error_class": LITELLM_ERRORS.get(r.error_type or "", "APIError"),
            "llm_provider": provider,
            "error_message": "(redacted)",
            "traceback": "",
        }
    prompt = r.uncached + r.cached
    return {
        "request_id": r.request_id,
        "call_type": "acompletion",
        "api_key": key_hash,
        "spend": cost_or_zero(r),
        "total_tokens": prompt + r.output,
        "prompt_tokens": prompt,
        "completion_tokens": r.output,
        "startTime": iso_z(r.t_ms),
        "endTime": iso_z(r.t_ms + r.latency_ms),
        "request_duration_ms": r.latency_ms,
        "completionStartTime": iso_z(r.t_ms + r.ttft_ms) if ok else None,
        "model": r.model_id,
        "model_id": derived(HEX, 64, "litellm-deployment", r.model.key),
        "model_group": LITELLM_GROUPS.get(r.model.key, r.model.key),
        "custom_llm_provider": provider,
        "api_base": LITELLM_BASES[provider],
        "user": "",
        "metadata": {
            "user_api_key": key_hash,
            "user_api_key_alias": r.key.name,
            "user_api_key_team_id": team_id,
            "user_api_key_team_alias": s.team,
            "user_api_key_org_id": None,
            "user_api_key_user_id": None,
            "user_api_key_end_user_id": None,
            "spend_logs_metadata": spend_meta,
            "requester_ip_address": "",
            "applied_guardrails": [],
            "status": "success" if ok else "failure",
            "error_information": error,
            "usage_object": litellm_usage(r) if ok else None,
            "additional_usage_values": {},
        },
        "cache_hit": "False",
        "cache_key": "",
        "request_tags": [s.app, s.environment],
        "team_id": team_id,
        "organization_id": None,
        "end_user": "",
        "requester_ip_address": "",
        "messages": {},
        "response": {},
        "session_id": r.session_id,
        "status": "success" if ok else "failure",
        "mcp_namespaced_tool_name": None,
        "agent_id": None,
        "proxy_server_request": {},
    }


def write_litellm_spend_logs(reqs: Sequence[Request], path: Path) -> FileStats:
    """``GET /spend/logs`` response: a JSON array (one element per line, for readability)."""
    rs = on_channel(reqs, "litellm", "litellm+gateway")
    body = ",\n".join(jdump(litellm_row(r)) for r in rs)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")
    return request_stats(rs)


# ---------------------------------------------------------------------------- Langfuse

LANGFUSE_PROJECT = "cm" + derived("abcdefghijklmnopqrstuvwxyz0123456789", 23, "langfuse-project")
LANGFUSE_COLUMNS = (
    "id,trace_id,project_id,environment,type,parent_observation_id,start_time,"
    "end_time,name,metadata,level,status_message,version,input,output,"
    "provided_model_name,model_parameters,usage_details,cost_details,"
    "completion_start_time,prompt_name,prompt_version,total_cost,latency,"
    "time_to_first_token,model_id,created_at,updated_at,prompt_id,tool_calls,"
    "tool_call_names,tool_definitions,usage_pricing_tier_id,usage_pricing_tier_name,"
    "input_price,output_price,total_price,user_id,session_id,trace_name,tags,release,"
    "bookmarked,public"
)
LANGFUSE_FIELDS = tuple(LANGFUSE_COLUMNS.split(","))


def langfuse_usage(r: Request) -> tuple[dict[str, object], dict[str, object]]:
    """Mutually exclusive buckets (input excludes cache, output excludes reasoning), with USD."""
    p = r.model.price
    assert p is not None
    if r.status == "error":
        return {}, {}
    anthropic = r.model.vendor == "anthropic"
    parts = [
        ("input", r.uncached, p.input),
        ("input_cache_read" if anthropic else "input_cached_tokens", r.cached, p.cached),
        ("input_cache_creation", r.write_5m, p.write_5m),
        ("output", r.output - r.reasoning, p.output),
        ("output_reasoning_tokens", r.reasoning, p.output),
    ]
    usage: dict[str, object] = {}
    cost: dict[str, object] = {}
    for name, n, price in parts:
        if n or name in ("input", "output"):
            usage[name] = n
            cost[name] = n * price / MILLION
    usage["total"] = r.prompt_tokens + r.output
    cost["total"] = cost_or_zero(r)
    return usage, cost


def langfuse_observation(**fields: object) -> dict[str, object]:
    """All observations_v2 fields, in the documented order (null where not set)."""
    unknown = set(fields) - set(LANGFUSE_FIELDS)
    assert not unknown, unknown
    return {name: fields.get(name) for name in LANGFUSE_FIELDS}


def write_langfuse(reqs: Sequence[Request], path: Path) -> FileStats:
    """Blob-storage export (JSONL) of observations: one SPAN per nightly run + its GENERATIONs."""
    rs = on_channel(reqs, "langfuse")
    runs: dict[str, list[Request]] = {}
    for r in rs:
        runs.setdefault(r.session_id or "", []).append(r)
    lines = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        for run, calls in runs.items():
            trace_id = derived(HEX, 32, "langfuse-trace", run)
            span_id = derived_uuid("langfuse-span", run)
            end = max(r.t_ms + r.latency_ms for r in calls)
            common = {
                "trace_id": trace_id,
                "project_id": LANGFUSE_PROJECT,
                "environment": "ci",
                "user_id": "nightly-eval",
                "session_id": run,
                "trace_name": "nightly-eval",
                "tags": ["nightly-eval", "ci"],
                "release": "eval-harness@3.4.0",
                "bookmarked": False,
                "public": False,
            }
            fh.write(
                json_line(
                    langfuse_observation(
                        id=span_id,
                        type="SPAN",
                        start_time=iso_space(calls[0].t_ms, 6),
                        end_time=iso_space(end, 6),
                        name="eval-run",
                        metadata={"suite": "rag-regression-v3", "cases": str(len(calls))},
                        level="DEFAULT",
                        latency=Decimal(end - calls[0].t_ms) / 1000,
                        created_at=iso_space(calls[0].t_ms, 6),
                        updated_at=iso_space(end + 2_000, 6),
                        **common,
                    )
                )
            )
            lines += 1
            for n, r in enumerate(calls, 1):
                ok = r.status == "ok"
                usage, cost = langfuse_usage(r)
                p = r.model.price
                assert p is not None
                fh.write(
                    json_line(
                        langfuse_observation(
                            id=r.request_id,
                            type="GENERATION",
                            parent_observation_id=span_id,
                            start_time=iso_space(r.t_ms, 6),
                            end_time=iso_space(r.t_ms + r.latency_ms, 6),
                            name=f"eval-case-{n:03d}",
                            metadata={
                                "provider": billed_by(r),
                                "app": "nightly-eval",
                                "team": "data",
                                "project": "search",
                                "purpose": "eval",
                            },
                            level="DEFAULT" if ok else "ERROR",
                            status_message=None if ok else f"{r.http_status} {r.error_type}",
                            provided_model_name=r.model_id,
                            model_parameters={"temperature": "0", "max_tokens": "4096"},
                            usage_details=usage,
                            cost_details=cost,
                            completion_start_time=iso_space(r.t_ms + r.ttft_ms, 6) if ok else None,
                            total_cost=cost_or_zero(r) if ok else None,
                            latency=Decimal(r.latency_ms) / 1000,
                            time_to_first_token=Decimal(r.ttft_ms) / 1000 if ok else None,
                            model_id="cm" + derived(HEX, 23, "langfuse-model", r.model.key),
                            created_at=iso_space(r.t_ms, 6),
                            updated_at=iso_space(r.t_ms + r.latency_ms + 1_000, 6),
                            input_price=num(p.input / MILLION),
                            output_price=num(p.output / MILLION),
                            **common,
                        )
                    )
                )
                lines += 1
    return request_stats(rs, rows=lines)


# ---------------------------------------------------------------------------- Portkey


def write_portkey(reqs: Sequence[Request], path: Path) -> FileStats:
    """Logs export (JSONL) with the requested_data fields but request/response bodies."""
    rs = on_channel(reqs, "portkey")
    with path.open("w", newline="", encoding="utf-8") as fh:
        for r in rs:
            s = r.stream
            ok = r.status == "ok"
            vendor = r.model.vendor
            assert r.cached == r.write_5m == r.write_1h == 0  # the export has no cache fields
            fh.write(
                json_line(
                    {
                        "id": r.request_id,
                        "trace_id": r.session_id,
                        "created_at": iso_z(r.t_ms),
                        "is_success": ok,
                        "ai_org": vendor,
                        "ai_model": r.model_id,
                        "req_units": r.uncached,
                        "res_units": r.output,
                        "total_units": r.uncached + r.output,
                        "request_url": "https://api.anthropic.com/v1/messages"
                        if vendor == "anthropic"
                        else "https://api.openai.com/v1/chat/completions",
                        "cost": cost_or_zero(r) * 100,  # cents
                        "cost_currency": "USD",
                        "response_time": r.latency_ms,
                        "response_status_code": r.http_status or 200,
                        "mode": "single",
                        "config": "pc-copy-s-" + derived("abcdef0123456789", 6, "portkey-config"),
                        "prompt_slug": None,
                        "metadata": {
                            "_user": "copy-studio",
                            "app": s.app,
                            "team": s.team,
                            "project": s.project,
                            "purpose": r.purpose,
                            "environment": s.environment,
                        },
                        "cache_status": "DISABLED",
                        "virtual_key": f"{vendor}-copy-studio-"
                        + derived("abcdef0123456789", 4, "portkey-vk", vendor),
                        "retry_success_count": 0,
                    }
                )
            )
    return request_stats(rs)


# ---------------------------------------------------------------------------- AWS


def bedrock_record(r: Request) -> dict[str, object]:
    s = r.stream
    stop = RAW_FINISH["anthropic"].get(r.finish, "end_turn")
    usage = {
        "inputTokens": r.uncached,
        "outputTokens": r.output,
        "totalTokens": r.prompt_tokens + r.output,
        "cacheReadInputTokens": r.cached,
        "cacheWriteInputTokens": r.write_5m,
    }
    meta = {
        "app": s.app or "",
        "team": s.team or "",
        "project": s.project or "",
        "environment": s.environment or "",
        "purpose": r.purpose or "",
        "session_id": r.session_id or "",
    }
    if r.prefix_hash:
        meta["prefix_hash"] = r.prefix_hash
    session = derived(HEX, 32, "doc-intake-task", day_of(r.t_ms))
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": iso_seconds(r.t_ms),
        "accountId": AWS_ACCOUNT,
        "identity": {"arn": f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/{r.key.name}/{session}"},
        "region": AWS_REGION,
        "requestId": r.request_id,
        "operation": "Converse",
        "modelId": r.model_id,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {
                "system": [{"text": "(redacted)"}, {"cachePoint": {"type": "default"}}],
                "messages": [{"role": "user", "content": [{"text": "(redacted)"}]}],
            },
            "inputTokenCount": r.uncached,
            "cacheReadInputTokenCount": r.cached,
            "cacheWriteInputTokenCount": r.write_5m,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": "(redacted)"}]}},
                "stopReason": stop,
                "metrics": {"latencyMs": r.latency_ms},
                "usage": usage,
            },
            "outputTokenCount": r.output,
        },
        "requestMetadata": meta,
        "inferenceRegion": random.Random(r.request_id).choice(
            ("eu-central-1", "eu-west-1", "eu-north-1", "us-east-1")
        ),
    }


def write_bedrock_logs(reqs: Sequence[Request], path: Path) -> FileStats:
    """Invocation-log objects as S3 delivers them: one gzip JSON-lines object per day."""
    rs = on_channel(reqs, "bedrock")
    assert all(r.write_1h == 0 and r.status == "ok" for r in rs)
    by_day: dict[int, list[Request]] = {}
    for r in rs:
        by_day.setdefault(day_of(r.t_ms), []).append(r)
    stats = request_stats(rs)
    for day, calls in by_day.items():
        first = datetime.fromtimestamp(calls[0].t_ms / 1000, UTC)
        rel = (
            f"AWSLogs/{AWS_ACCOUNT}/BedrockModelInvocationLogs/{AWS_REGION}/{first:%Y/%m/%d/%H}/"
            f"{AWS_ACCOUNT}_BedrockModelInvocationLogs_{AWS_REGION}_{first:%Y%m%dT%H%M}Z_"
            f"{derived(HEX, 16, 'bedrock-object', day)}.json.gz"
        )
        data = "".join(json_line(bedrock_record(r)) for r in calls).encode()
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(data, mtime=0))
        stats.files.append(rel)
    return stats


FOCUS_COLUMNS = (
    "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,PricingCurrency,"
    "BillingAccountId,BillingAccountName,BillingAccountType,BillingPeriodStart,"
    "BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,"
    "ChargeDescription,ChargeFrequency,ConsumedQuantity,ConsumedUnit,PricingQuantity,"
    "PricingUnit,PricingCategory,ListUnitPrice,ContractedUnitPrice,InvoiceId,"
    "InvoiceIssuerName,ProviderName,PublisherName,RegionId,RegionName,ResourceId,"
    "ResourceName,ResourceType,ServiceCategory,ServiceSubcategory,ServiceName,SkuId,"
    "SkuMeter,SkuPriceDetails,SkuPriceId,SubAccountId,SubAccountName,SubAccountType,"
    "Tags,x_ServiceCode,x_UsageType"
)
FOCUS_HEADER = tuple(FOCUS_COLUMNS.split(","))
FOCUS_METERS = {
    "input": ("Input Tokens", "input-tokens"),
    "cache_read": ("Cache Read Input Tokens", "cache-read-input-tokens"),
    "cache_write_5m": ("Cache Write Input Tokens", "cache-write-input-tokens"),
    "output": ("Output Tokens", "output-tokens"),
}
# Non-AI charges of the same account, which an LLM cost audit ignores, one per line:
# charge category|service|service category|subcategory|code|description|quantity|unit|price
FOCUS_OTHER = (
    "Usage|Amazon Simple Storage Service|Storage|Object Storage|AmazonS3|"
    "$0.0245 per GB-Month of storage used in Standard storage|156.73|GB-Month|0.0245",
    "Usage|Amazon Elastic Compute Cloud|Compute|Virtual Machines|AmazonEC2|"
    "$0.048 per On Demand Linux t3.medium Instance Hour|720|Hrs|0.048",
    "Usage|Amazon CloudWatch|Management and Governance|Observability|AmazonCloudWatch|"
    "$0.63 per GB logs data ingested (Bedrock invocation logs)|2.4|GB|0.63",
    "Credit|Amazon Elastic Compute Cloud|Compute|Virtual Machines|AmazonEC2|AWS Activate credit|||",
)
FOCUS_CREDIT = Decimal("-20")


def focus_row(**values: object) -> list[str]:
    shared = {
        "BillingCurrency": "USD",
        "PricingCurrency": "USD",
        "BillingAccountId": AWS_PAYER,
        "BillingAccountName": "acme-robotics-payer",
        "BillingAccountType": "Billing Account",
        "BillingPeriodStart": "2026-06-01T00:00:00Z",
        "BillingPeriodEnd": "2026-07-01T00:00:00Z",
        "InvoiceId": "EUINDE26-" + derived("0123456789", 6, "aws-invoice"),
        "InvoiceIssuerName": "Amazon Web Services EMEA SARL",
        "ProviderName": "AWS",
        "RegionId": AWS_REGION,
        "RegionName": "Europe (Frankfurt)",
        "SubAccountId": AWS_ACCOUNT,
        "SubAccountName": "acme-ml-prod",
        "SubAccountType": "Account",
        "Tags": "{}",
    }
    shared.update({k: "" if v is None else str(v) for k, v in values.items()})
    assert set(shared) <= set(FOCUS_HEADER), set(shared) - set(FOCUS_HEADER)
    return [shared.get(c, "") for c in FOCUS_HEADER]


def write_focus(reqs: Sequence[Request], path: Path) -> FileStats:
    """FOCUS 1.2 CSV of the AWS account: Bedrock per day x model x token type, plus non-AI rows."""
    groups = tally(
        on_provider(reqs, "bedrock"), lambda r: (day_of(r.t_ms), r.model.key, r.model_id)
    )
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FOCUS_HEADER)
        for (day, mkey, model_id), t in groups.items():
            model = MODELS[str(mkey)]
            name = ANTHROPIC_DISPLAY[model.key]
            short = name.replace("Claude ", "Claude").replace(" ", "")
            for part, n, price, cost in charges(model, t):
                meter, slug = FOCUS_METERS[part]
                w.writerow(
                    focus_row(
                        BilledCost=num(cost),
                        EffectiveCost=num(cost),
                        ListCost=num(cost),
                        ContractedCost=num(cost),
                        ChargePeriodStart=f"{day_iso(int(day))}T00:00:00Z",
                        ChargePeriodEnd=f"{day_iso(int(day) + 1)}T00:00:00Z",
                        ChargeCategory="Usage",
                        ChargeDescription=f"{name} (Amazon Bedrock, {model_id}) {meter.lower()}",
                        ChargeFrequency="Usage-Based",
                        ConsumedQuantity=n,
                        ConsumedUnit="Tokens",
                        PricingQuantity=num(Decimal(n) / MILLION),
                        PricingUnit="1M Tokens",
                        PricingCategory="Standard",
                        ListUnitPrice=num(price),
                        ContractedUnitPrice=num(price),
                        PublisherName="Anthropic",
                        ResourceId=f"arn:aws:bedrock:{AWS_REGION}:{AWS_ACCOUNT}:"
                        f"inference-profile/{model_id}",
                        ResourceName=model_id,
                        ResourceType="Inference Profile",
                        ServiceCategory="AI and Machine Learning",
                        ServiceSubcategory="Generative AI",
                        ServiceName="Amazon Bedrock",
                        SkuId=derived(UPPER36, 16, "aws-sku", model_id, part),
                        SkuMeter=meter,
                        SkuPriceDetails=json.dumps(
                            {"ModelId": model_id, "TokenType": meter}, separators=(",", ":")
                        ),
                        SkuPriceId=derived(UPPER36, 16, "aws-sku-price", model_id, part),
                        x_ServiceCode="AmazonBedrock",
                        x_UsageType=f"EUC1-{short}-{slug}",
                    )
                )
                stats.rows += 1
                stats.cost += cost
        for other in FOCUS_OTHER:
            kind, service, category, sub, code, text, qty, unit, unit_price = other.split("|")
            cost = Decimal(qty) * Decimal(unit_price) if kind == "Usage" else FOCUS_CREDIT
            w.writerow(
                focus_row(
                    BilledCost=num(cost),
                    EffectiveCost=num(cost),
                    ListCost=num(cost) if kind == "Usage" else "0",
                    ContractedCost=num(cost) if kind == "Usage" else "0",
                    ChargePeriodStart="2026-06-01T00:00:00Z",
                    ChargePeriodEnd="2026-07-01T00:00:00Z",
                    ChargeCategory=kind,
                    ChargeDescription=text,
                    ChargeFrequency="Usage-Based" if kind == "Usage" else "One-Time",
                    ConsumedQuantity=qty,
                    ConsumedUnit=unit,
                    PricingQuantity=qty,
                    PricingUnit=unit,
                    PricingCategory="Standard" if kind == "Usage" else "",
                    ListUnitPrice=unit_price,
                    ContractedUnitPrice=unit_price,
                    PublisherName="AWS",
                    ServiceCategory=category,
                    ServiceSubcategory=sub,
                    ServiceName=service,
                    x_ServiceCode=code,
                    x_UsageType=f"EUC1-{code}-{unit or 'credit'}",
                )
            )
            stats.rows += 1
    return stats


# ---------------------------------------------------------------------------- Claude Code

CC_VERSION = "2.1.90"
CC_TOOLS = ("Read", "Edit", "Bash", "Grep", "Glob", "Write", "TodoWrite")


def cc_blocks(r: Request) -> tuple[list[str], random.Random]:
    """The content blocks (= transcript lines) of one call, and the RNG that chose them."""
    rnd = random.Random(r.request_id)
    blocks = ["thinking"] if rnd.random() < 0.35 else []
    if r.finish == "tool_calls":
        blocks += ["text", "tool_use"] if rnd.random() < 0.6 else ["tool_use"]
    else:
        blocks.append("text")
    return blocks, rnd


@dataclass
class Transcript:
    """State of one Claude Code transcript file while its lines are written."""

    session_id: str
    cwd: str
    branch: str
    agent_id: str | None = None  # subagent transcripts only
    parent: str | None = None
    lines: list[dict[str, object]] = field(default_factory=list)
    last_tool: str | None = None

    def base(self, kind: str, uuid: str) -> dict[str, object]:
        line: dict[str, object] = {
            "parentUuid": self.parent,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": CC_VERSION,
            "gitBranch": self.branch,
        }
        if self.agent_id:
            line["agentId"] = self.agent_id
        line["type"] = kind
        self.parent = uuid
        return line

    def user(self, key: str, t_ms: int, prompt: bool) -> None:
        uuid = derived_uuid("cc-user", key)
        if prompt and not self.agent_id:
            self.lines.append(
                {
                    "type": "file-history-snapshot",
                    "messageId": uuid,
                    "snapshot": {
                        "messageId": uuid,
                        "trackedFileBackups": {},
                        "timestamp": iso_z(t_ms),
                    },
                    "isSnapshotUpdate": False,
                }
            )
        line = self.base("user", uuid)
        if prompt or self.last_tool is None:
            content: object = "(redacted)"
        else:
            content = [
                {"type": "tool_result", "tool_use_id": self.last_tool, "content": "(redacted)"}
            ]
        line.update({"message": {"role": "user", "content": content}, "uuid": uuid})
        line["timestamp"] = iso_z(t_ms)
        self.lines.append(line)
        self.last_tool = None

    def assistant(self, r: Request, before: int) -> None:
        """One API call: one line per content block, the usage repeated on each line.

        Lines are timestamped as the blocks arrive, but before ``before`` (the next call) and
        within the call's UTC day, so every line of a call falls on the day it is billed.
        """
        blocks, rnd = cc_blocks(r)
        end = min(r.t_ms + r.latency_ms, before, START_MS + (day_of(r.t_ms) + 1) * DAY_MS - 1)
        first = min(r.t_ms + r.ttft_ms, end)
        request_id = "req_011C" + derived(ALNUM, 18, "cc-request", r.request_id)
        for j, kind in enumerate(blocks):
            last = j == len(blocks) - 1
            uuid = derived_uuid("cc-assistant", r.request_id, j)
            if kind == "tool_use":
                self.last_tool = "toolu_01" + derived(ALNUM, 22, "cc-tool", r.request_id)
                block: dict[str, object] = {
                    "type": "tool_use",
                    "id": self.last_tool,
                    "name": rnd.choice(CC_TOOLS),
                    "input": {},
                }
            elif kind == "thinking":
                block = {"type": "thinking", "thinking": "(redacted)", "signature": "(redacted)"}
            else:
                block = {"type": "text", "text": "(redacted)"}
            partial = min(r.output, max(1, r.output * (j + 1) // (len(blocks) + 3)))
            t = first + (end - first) * (j + 1) // len(blocks)
            line = self.base("assistant", uuid)
            line["message"] = {
                "id": r.request_id,
                "type": "message",
                "role": "assistant",
                "model": r.model_id,
                "content": [block],
                "stop_reason": RAW_FINISH["anthropic"].get(r.finish, "end_turn") if last else None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": r.uncached,
                    "cache_creation_input_tokens": r.write_5m + r.write_1h,
                    "cache_read_input_tokens": r.cached,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": r.write_5m,
                        "ephemeral_1h_input_tokens": r.write_1h,
                    },
                    "output_tokens": r.output if last else partial,
                    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                    "service_tier": "standard",
                    "inference_geo": "not_available",
                    "speed": "standard",
                },
            }
            line.update({"requestId": request_id, "uuid": uuid, "timestamp": iso_z(t)})
            self.lines.append(line)

    def api_error(self, key: str, t_ms: int) -> None:
        """A synthetic message Claude Code writes when the API call failed (no usage)."""
        uuid = derived_uuid("cc-error", key)
        line = self.base("assistant", uuid)
        line["message"] = {
            "id": derived_uuid("cc-error-message", key),
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": None,
            },
            "content": [{"type": "text", "text": "(redacted)"}],
        }
        line.update({"uuid": uuid, "timestamp": iso_z(t_ms), "isApiErrorMessage": True})
        self.lines.append(line)

    def write(self, target: Path) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json_line(x) for x in self.lines), encoding="utf-8")
        return len(self.lines)


def cc_sessions(reqs: Sequence[Request]) -> dict[str, list[Request]]:
    sessions: dict[str, list[Request]] = {}
    for r in on_channel(reqs, "claude-code"):
        sessions.setdefault(r.session_id or "", []).append(r)
    return sessions


def cc_special(sessions: dict[str, list[Request]]) -> tuple[str | None, str | None]:
    """(session with a subagent: its last 3 calls, session ending with an API error)."""
    sub = next((sid for sid, calls in sessions.items() if len(calls) >= 6), None)
    err = next((sid for sid, calls in sessions.items() if sid != sub and calls), None)
    return sub, err


def write_claude_code(reqs: Sequence[Request], path: Path) -> FileStats:
    """``~/.claude/projects/<encoded-cwd>/<sessionId>.jsonl`` of the Claude Code users."""
    sessions = cc_sessions(reqs)
    sub_sid, err_sid = cc_special(sessions)
    stats = request_stats(on_channel(reqs, "claude-code"), rows=0)
    for sid, calls in sessions.items():
        s = calls[0].stream
        cwd = f"/Users/{s.user}/src/{s.project}"
        folder = cwd.replace("/", "-").replace(".", "-")
        rnd = random.Random(sid)
        branch = rnd.choice(("main", "main", f"feat/{derived(HEX, 6, 'cc-branch', sid)}"))
        main, side = (calls[:-3], calls[-3:]) if sid == sub_sid else (calls, [])
        transcript = Transcript(sid, cwd, branch)
        if rnd.random() < 0.3:  # a resumed session starts with the summary of the last one
            transcript.lines.append(
                {
                    "type": "summary",
                    "summary": "(redacted)",
                    "leafUuid": derived_uuid("cc-leaf", sid),
                }
            )
        for i, r in enumerate(main):
            transcript.user(r.request_id, r.t_ms - 150, prompt=i == 0)
            transcript.assistant(r, main[i + 1].t_ms - 300 if i + 1 < len(main) else END_MS)
        if sid == err_sid:
            t = main[-1].t_ms + main[-1].latency_ms + 40_000
            transcript.user(sid + "-retry", t, prompt=True)
            transcript.api_error(sid, t + 2_500)
        rel = f"{folder}/{sid}.jsonl"
        stats.rows += transcript.write(path / rel)
        stats.files.append(rel)
        if side:
            agent_id = derived(HEX, 8, "cc-agent", sid)
            sidechain = Transcript(sid, cwd, branch, agent_id=agent_id)
            for i, r in enumerate(side):
                sidechain.user(r.request_id, r.t_ms - 150, prompt=i == 0)
                sidechain.assistant(r, side[i + 1].t_ms - 300 if i + 1 < len(side) else END_MS)
            rel = f"{folder}/{sid}/subagents/agent-{agent_id}.jsonl"
            stats.rows += sidechain.write(path / rel)
            stats.files.append(rel)
    return stats


# ---------------------------------------------------------------------------- generic CSV

GENERIC_CSV_COLUMNS = (
    "timestamp,model,input_tokens,cached_input_tokens,cache_write_tokens,"
    "output_tokens,reasoning_tokens,user,team,project,purpose,app,api_key,key_name,"
    "status,http_status,error_type,latency_ms,outcome,cost_usd,request_id,provider,"
    "session_id,prompt_hash,environment"
)
GENERIC_CSV_HEADER = tuple(GENERIC_CSV_COLUMNS.split(","))


def write_generic_csv(reqs: Sequence[Request], path: Path) -> FileStats:
    """tokaudit generic CSV (generic-jsonl.md field names) from two small home-made loggers."""
    rs = on_channel(reqs, "csv")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(GENERIC_CSV_HEADER)
        for r in rs:
            s = r.stream
            cost = r.cost()
            w.writerow(
                (
                    iso_z(r.t_ms),
                    r.model_id,
                    r.uncached,
                    r.cached,
                    r.write_5m + r.write_1h,
                    r.output,
                    r.reasoning if r.model.reasoning != "never" else "",
                    s.user or "",
                    s.team or "",
                    s.project or "",
                    r.purpose or "",
                    s.app or "",
                    r.logged_api_key,
                    r.key.name,
                    r.status,
                    r.http_status or "",
                    r.error_type or "",
                    r.latency_ms,
                    r.outcome or "",
                    "" if cost is None else usd(cost),
                    r.request_id,
                    billed_by(r),
                    r.session_id or "",
                    r.prompt_hash,
                    s.environment or "",
                )
            )
    return request_stats(rs)


Writer = Callable[[Sequence[Request], Path], FileStats]


@dataclass(frozen=True)
class Output:
    """One export: where it goes (a file, or a folder for tree writers), what it is, its writer."""

    rel: str
    what: str
    obtain: str
    granularity: str  # request | aggregate
    writer: Writer


LANGFUSE_FILE = f"langfuse/{LANGFUSE_PROJECT}/observations_v2/20260701T000000Z.jsonl"
WRITERS: tuple[Output, ...] = (
    Output(
        f"openrouter/openrouter_generations_{MONTH}.csv",
        "OpenRouter per-generation CSV (24 columns), one row per call routed through OpenRouter",
        "openrouter.ai → Activity → Logs → export CSV",
        "request",
        write_openrouter_generations,
    ),
    Output(
        f"openrouter/openrouter_activity_{MONTH}.csv",
        "OpenRouter activity CSV grouped by Model: one row per UTC day x model slug "
        "(OpenRouter's bill)",
        "openrouter.ai/activity → 1 Month, group by Model → Export to CSV",
        "aggregate",
        write_openrouter_activity,
    ),
    Output(
        f"openrouter/api/activity_{MONTH}.json",
        "OpenRouter `/api/v1/activity` response: one item per UTC day x model x endpoint "
        "(the same bill as the activity CSV)",
        "GET https://openrouter.ai/api/v1/activity with a management key (on 2026-07-01)",
        "aggregate",
        write_openrouter_activity_json,
    ),
    Output(
        f"openrouter/api/generation_lookups_{MONTH}.jsonl",
        "OpenRouter `/api/v1/generation?id=…` responses, one per line, for a few requests that "
        "are also in the generations CSV (same ids)",
        "GET https://openrouter.ai/api/v1/generation?id=<gen-id>, responses appended to a file",
        "request",
        write_openrouter_generation_api,
    ),
    Output(
        f"app-logs/gateway-{MONTH}.jsonl",
        "tokaudit generic JSONL written by the company LLM gateway (direct provider calls)",
        "the gateway's own request log",
        "request",
        write_gateway_jsonl,
    ),
    Output(
        f"app-logs/agent-responses-{MONTH}.jsonl",
        "generic JSONL response-object lines: forge-agent's raw provider responses",
        "forge-agent's response log",
        "request",
        write_agent_jsonl,
    ),
    Output(
        f"app-logs/llm-calls-{MONTH}.csv",
        "tokaudit generic CSV (generic JSONL field names as the header) from two small "
        "home-made loggers: triage-classifier and release-notes-bot",
        "the services' own CSV loggers",
        "request",
        write_generic_csv,
    ),
    Output(
        f"helicone/helicone_export_{MONTH}.jsonl",
        "Helicone request export (query-clickhouse records): support-bot production",
        "npx @helicone/export --start-date 2026-06-01 --end-date 2026-07-01 --format jsonl",
        "request",
        write_helicone_jsonl,
    ),
    Output(
        f"helicone/helicone_export_staging_{MONTH}.csv",
        "Helicone CSV export (12 quoted columns) of the staging organisation: support-bot staging",
        "npx @helicone/export … --format csv (staging org's API key)",
        "request",
        write_helicone_csv,
    ),
    Output(
        f"litellm/spend_logs_{MONTH}.json",
        "LiteLLM proxy `/spend/logs` response (LiteLLM_SpendLogs rows, a JSON array): rag-search",
        "GET /spend/logs?start_date=2026-06-01&end_date=2026-06-30 with the master key",
        "request",
        write_litellm_spend_logs,
    ),
    Output(
        LANGFUSE_FILE,
        "Langfuse blob-storage export of observations (observations_v2 fields, JSONL): the "
        "nightly eval's traces",
        "Langfuse project settings → Blob storage export (JSONL), daily",
        "request",
        write_langfuse,
    ),
    Output(
        f"portkey/portkey_logs_{MONTH}.jsonl",
        "Portkey log export (JSONL, `cost` in cents): copy-studio",
        "Portkey → Logs → Export (POST /v1/logs/exports, then download)",
        "request",
        write_portkey,
    ),
    Output(
        "claude-code/projects",
        "Claude Code transcripts `<encoded-cwd>/<sessionId>.jsonl` (+ one subagent file) "
        "collected from four developers' machines",
        "copy ~/.claude/projects/ (or ~/.config/claude/projects/) from each machine",
        "request",
        write_claude_code,
    ),
    Output(
        "aws/bedrock-invocation-logs",
        "Bedrock model invocation logs as S3 delivers them (gzip JSON lines, "
        "`AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/…json.gz`): "
        "doc-intake",
        "Bedrock → Settings → Model invocation logging to S3; aws s3 sync the prefix",
        "request",
        write_bedrock_logs,
    ),
    Output(
        f"aws/focus_1.2_{MONTH}.csv",
        "FOCUS 1.2 billing CSV of the AWS account: Bedrock per day x model x token type, plus "
        "non-AI rows (S3, EC2, CloudWatch, one credit) that an LLM audit ignores",
        "AWS Data Exports (FOCUS) or a FinOps tool's FOCUS 1.2 export, billing period 2026-06",
        "aggregate",
        write_focus,
    ),
    Output(
        f"openai/usage_completions_{MONTH}.json",
        "OpenAI Usage API page (`/v1/organization/usage/completions`, 1d buckets, grouped by "
        "model, project_id, api_key_id): tokens",
        "GET /v1/organization/usage/completions?start_time=1780272000&bucket_width=1d&limit=31"
        "&group_by[]=model&group_by[]=project_id&group_by[]=api_key_id (admin key)",
        "aggregate",
        write_openai_usage_json,
    ),
    Output(
        f"openai/costs_{MONTH}.json",
        "OpenAI Costs API page (`/v1/organization/costs`, 1d buckets, grouped by line_item and "
        "project_id): billed USD",
        "GET /v1/organization/costs?start_time=1780272000&bucket_width=1d&limit=31"
        "&group_by[]=line_item&group_by[]=project_id (admin key)",
        "aggregate",
        write_openai_costs_json,
    ),
    Output(
        "openai/cost_2026-06-01_2026-06-30.csv",
        "OpenAI dashboard Cost export (17 columns), per day x project x line item: billed USD",
        "platform.openai.com/usage → Cost → group by project, line item → Export",
        "aggregate",
        write_openai_cost_csv,
    ),
    Output(
        "openai/completions_usage_2026-06-01_2026-06-30.csv",
        "OpenAI dashboard Activity export (24 columns), per day x project x API key x model: "
        "tokens",
        "platform.openai.com/usage → Activity → group by project, API key, model → Export",
        "aggregate",
        write_openai_activity_csv,
    ),
    Output(
        f"anthropic/usage_report_messages_{MONTH}.json",
        "Anthropic Admin API usage report (1d buckets, grouped by model, api_key_id, "
        "workspace_id): tokens",
        "GET /v1/organizations/usage_report/messages?starting_at=2026-06-01T00:00:00Z"
        "&bucket_width=1d&limit=31&group_by[]=model&group_by[]=api_key_id"
        "&group_by[]=workspace_id (admin key)",
        "aggregate",
        write_anthropic_usage_json,
    ),
    Output(
        f"anthropic/cost_report_{MONTH}.json",
        "Anthropic Admin API cost report (1d buckets, grouped by workspace_id and description; "
        "`amount` in cents as decimal strings): billed USD",
        "GET /v1/organizations/cost_report?starting_at=2026-06-01T00:00:00Z&limit=31"
        "&group_by[]=workspace_id&group_by[]=description (admin key)",
        "aggregate",
        write_anthropic_cost_json,
    ),
    Output(
        "anthropic/claude_api_tokens_2026_06_30.csv",
        "Claude Console usage export (daily), per day x model x key name x workspace: tokens",
        "platform.claude.com → Usage → Export",
        "aggregate",
        write_anthropic_usage_csv,
    ),
    Output(
        "anthropic/claude_api_cost_2026_06_01_to_2026_06_30.csv",
        "Claude Console cost export, per day x model (display name) x key x token type, "
        "`cost_usd` rounded to the cent: billed USD",
        "platform.claude.com → Cost → Export",
        "aggregate",
        write_anthropic_cost_csv,
    ),
)

# Which request-level file logs each channel (stream.channel).
CHANNEL_FILES = {
    "openrouter": f"`openrouter/openrouter_generations_{MONTH}.csv`",
    "openrouter+gateway": f"generations CSV **and** `app-logs/gateway-{MONTH}.jsonl`",
    "gateway": f"`app-logs/gateway-{MONTH}.jsonl`",
    "agent": f"`app-logs/agent-responses-{MONTH}.jsonl`",
    "csv": f"`app-logs/llm-calls-{MONTH}.csv`",
    "helicone": f"`helicone/helicone_export_{MONTH}.jsonl`",
    "helicone-csv": f"`helicone/helicone_export_staging_{MONTH}.csv`",
    "litellm": f"`litellm/spend_logs_{MONTH}.json`",
    "litellm+gateway": f"`litellm/spend_logs_{MONTH}.json` **and** the gateway JSONL",
    "langfuse": "the Langfuse observations export",
    "portkey": f"`portkey/portkey_logs_{MONTH}.jsonl`",
    "claude-code": "`claude-code/projects/…`",
    "bedrock": "`aws/bedrock-invocation-logs/…`",
}

# May's exports: the same formats as the June files of the same names.
MAY_START_S = MAY.start_ms // 1000
MAY_WRITERS: tuple[Output, ...] = (
    Output(
        f"openrouter/openrouter_generations_{MAY.label}.csv",
        "OpenRouter per-generation CSV: the laptops' and docs-bot's calls",
        "openrouter.ai → Activity → Logs → export CSV",
        "request",
        write_openrouter_generations,
    ),
    Output(
        f"openrouter/openrouter_activity_{MAY.label}.csv",
        "OpenRouter activity CSV grouped by Model (OpenRouter's bill)",
        "openrouter.ai/activity → 1 Month, group by Model → Export to CSV",
        "aggregate",
        write_openrouter_activity,
    ),
    Output(
        f"app-logs/gateway-{MAY.label}.jsonl",
        "gateway JSONL: every direct provider call of the month",
        "the gateway's own request log",
        "request",
        write_gateway_jsonl,
    ),
    Output(
        f"openai/costs_{MAY.label}.json",
        "OpenAI Costs API page (1d buckets by line_item and project_id): billed USD",
        f"GET /v1/organization/costs?start_time={MAY_START_S}&bucket_width=1d&limit=31"
        "&group_by[]=line_item&group_by[]=project_id (admin key)",
        "aggregate",
        partial(write_openai_costs_json, period=MAY),
    ),
    Output(
        f"anthropic/cost_report_{MAY.label}.json",
        "Anthropic Admin API cost report (1d buckets by workspace_id and description): billed USD",
        f"GET /v1/organizations/cost_report?starting_at={MAY.first}T00:00:00Z&limit=31"
        "&group_by[]=workspace_id&group_by[]=description (admin key)",
        "aggregate",
        partial(write_anthropic_cost_json, period=MAY),
    ),
)


# ════════════════════════════════════════════════════════════════════════════════════════
# The expected report: billed and logged layers per provider and day
# ════════════════════════════════════════════════════════════════════════════════════════

# Providers with a billing export, and the export whose money the expected total uses.
BILLING_EXPORTS = {
    "openai": f"openai/costs_{MONTH}.json",
    "anthropic": f"anthropic/cost_report_{MONTH}.json",
    "bedrock": f"aws/focus_1.2_{MONTH}.csv",
    "openrouter": f"openrouter/openrouter_activity_{MONTH}.csv",
}
PROVIDERS = ("openai", "anthropic", "openrouter", "bedrock", "google", "deepseek", "mistral")
MAY_BILLING_EXPORTS = {
    "openai": f"openai/costs_{MAY.label}.json",
    "anthropic": f"anthropic/cost_report_{MAY.label}.json",
    "openrouter": f"openrouter/openrouter_activity_{MAY.label}.csv",
}


@dataclass
class Layers:
    """Per provider and day of the month: list price of the logged requests, what was billed."""

    logged: dict[str, list[Decimal]]
    billed: dict[str, list[Decimal]]  # providers with a billing export that month
    console_billed: list[Decimal]  # Anthropic per the Console cost CSV (rounded to cents)

    def expected(self, provider: str, day: int) -> Decimal:
        return (self.billed if provider in self.billed else self.logged)[provider][day]

    @property
    def total(self) -> Decimal:
        days = range(len(self.console_billed))
        return sum((self.expected(p, d) for p in PROVIDERS for d in days), Decimal(0))


def layers(
    reqs: Sequence[Request], period: Period = JUNE, exports: Sequence[str] = tuple(BILLING_EXPORTS)
) -> Layers:
    """The expected report: ``exports`` are the providers with a billing export that month."""
    days, local = period.days, period.local
    logged = {p: [Decimal(0)] * days for p in PROVIDERS}
    for r in reqs:
        cost = r.cost()
        if cost is not None:
            logged[billed_by(r)][local(day_of(r.t_ms))] += cost
    billed = {p: [Decimal(0)] * days for p in BILLING_EXPORTS}
    for day, _, _, (_, _, _, cost) in openai_line_items(reqs):
        billed["openai"][local(day)] += cost
    console = [Decimal(0)] * days
    for day, _, _, (_, _, _, cost) in anthropic_charges(reqs, period):
        billed["anthropic"][local(day)] += cost
        console[local(day)] += cost.quantize(CENT, rounding=ROUND_HALF_UP)
    for (bday, mkey, _), t in tally(
        on_provider(reqs, "bedrock"), lambda r: (day_of(r.t_ms), r.model.key, r.model_id)
    ).items():
        billed["bedrock"][local(int(bday))] += sum(
            (c[3] for c in charges(MODELS[str(mkey)], t)), Decimal(0)
        )
    for (oday,), t in tally(on_openrouter(reqs), lambda r: (day_of(r.t_ms),)).items():
        billed["openrouter"][local(int(oday))] += t.cost_rounded
    return Layers(logged, {p: v for p, v in billed.items() if p in exports}, console)


# ════════════════════════════════════════════════════════════════════════════════════════
# README (generated from the same scenario, so names and numbers never drift)
# ════════════════════════════════════════════════════════════════════════════════════════


def _dollars(d: Decimal) -> str:
    return f"${d.quantize(Decimal('0.01')):,}"


def _days(reqs: Sequence[Request]) -> str:
    days = sorted({f"{datetime.fromtimestamp(r.t_ms / 1000, UTC):%m-%d}" for r in reqs})
    return ", ".join(days) if len(days) <= 8 else f"{days[0]} .. {days[-1]} ({len(days)} days)"


def _readme_files(stats: dict[str, FileStats]) -> list[str]:
    lines = [
        "## Files",
        "",
        "Request files: the cost column is the list price of their requests. Aggregate files: "
        "the money they state (cost exports), or the list price of their tokens (usage "
        "exports, marked *tokens*).",
        "",
        "| file | what it is | how to get such an export | granularity | rows | USD |",
        "|---|---|---|---|---:|---:|",
    ]
    for out in WRITERS:
        st = stats[out.rel]
        rows = f"{st.rows:,}"
        if st.files:
            rows += f" lines in {len(st.files)} files"
        if st.requests is not None and st.requests != st.rows:
            rows += f" ({st.requests:,} requests)"
        money = usd(st.cost)
        if out.writer in (
            write_openai_usage_json,
            write_openai_activity_csv,
            write_anthropic_usage_json,
            write_anthropic_usage_csv,
        ):
            money += " *tokens*"
        if st.unpriced:
            money += f" + {st.unpriced} unpriced rows"
        lines.append(
            f"| `{out.rel}` | {out.what} | {out.obtain} | {out.granularity} | {rows} | {money} |"
        )
    return lines


def _readme_layers(reqs: Sequence[Request], lay: Layers) -> list[str]:
    unlogged = unlogged_requests(reqs)
    unlogged_cost = sum((cost_or_zero(r) for r in unlogged), Decimal(0))
    anth_logged = sum(lay.logged["anthropic"], Decimal(0))
    lines = [
        "## Billed and logged totals (the expected report)",
        "",
        "For each provider and UTC day the billing exports state what was billed and the "
        "request files what was logged (list price of each distinct request, counted once). "
        "tokaudit's spend is the billed amount where a billing export exists and the logged "
        "amount otherwise. Every billing export equals the sum of its provider's logged "
        "requests for every day (same Decimal list prices), **except Anthropic**, which also "
        f"billed `legacy-batch-key`: traffic no log covers ({_dollars(unlogged_cost)}, "
        f"{unlogged_cost / (anth_logged + unlogged_cost):.1%} of Anthropic's bill, on "
        + ", ".join(f"06-{r.request_id[-2:]}" for r in unlogged)
        + "). All exports of one provider describe the same money: the OpenAI usage and cost "
        "exports have the same buckets and totals; the OpenRouter activity CSV and activity "
        "JSON are the same bill; the Claude Console cost CSV rounds each line to the cent.",
        "",
        "| provider | billing export (money) | billed | logged | billed − logged | "
        "counted in the expected total |",
        "|---|---|---:|---:|---:|---|",
    ]
    for p in PROVIDERS:
        logged = sum(lay.logged[p], Decimal(0))
        if p in lay.billed:
            billed = sum(lay.billed[p], Decimal(0))
            lines.append(
                f"| {p} | `{BILLING_EXPORTS[p]}` | {usd(billed)} | {usd(logged)} | "
                f"{usd(billed - logged)} | billed |"
            )
        else:
            lines.append(f"| {p} | — | — | {usd(logged)} | — | logged |")
    console = sum(lay.console_billed, Decimal(0))
    unpriced = [r for r in reqs if r.cost() is None]
    lines += [
        "",
        f"**Expected report total: {usd(lay.total)} USD** ({_dollars(lay.total)}) for June 2026 "
        "(UTC days): the billed amount for openai, anthropic, openrouter and bedrock, the "
        "logged list price for google, deepseek and mistral; each request counted once. That "
        f"is the list price of the {len(reqs):,} distinct requests "
        f"({usd(sum((cost_or_zero(r) for r in reqs), Decimal(0)))}) plus the unlogged "
        f"Anthropic traffic ({usd(unlogged_cost)}). The {len(unpriced)} requests of "
        "`acme/llama-ft-support-v3` (self-hosted) are unpriced and not in it. If Anthropic's "
        "billed amount is taken from the Console cost CSV (rounded lines) instead of the cost "
        f"report, Anthropic totals {usd(console)} and the expected total becomes "
        f"{usd(lay.total - sum(lay.billed['anthropic'], Decimal(0)) + console)}.",
        "",
        "Per day (USD; `anthropic logged` is what the logs explain, the rest of a billed day is "
        "unattributed; `logged only` = google + deepseek + mistral):",
        "",
        "| day | openai billed | anthropic billed | anthropic logged | openrouter billed | "
        "bedrock billed | logged only | expected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in range(DAYS):
        other = sum((lay.logged[p][d] for p in ("google", "deepseek", "mistral")), Decimal(0))
        expected = sum((lay.expected(p, d) for p in PROVIDERS), Decimal(0))
        lines.append(
            f"| {day_iso(d)} | {usd(lay.billed['openai'][d])} | "
            f"{usd(lay.billed['anthropic'][d])} | {usd(lay.logged['anthropic'][d])} | "
            f"{usd(lay.billed['openrouter'][d])} | {usd(lay.billed['bedrock'][d])} | "
            f"{usd(other)} | {usd(expected)} |"
        )
    lines += [
        "",
        "Unlogged Anthropic traffic (key `legacy-batch-key`, id "
        f"`{anthropic_key_id('legacy-batch-key')}`, workspace Default, `claude-sonnet-4-6`, "
        "standard tier — a legacy nightly job calling the Messages API, not the Batch API):",
        "",
        "| day | uncached input tokens | output tokens | USD |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {day_iso(day_of(r.t_ms))} | {r.uncached:,} | {r.output:,} | {usd(cost_or_zero(r))} |"
        for r in unlogged
    ]
    return lines


def _readme_conventions() -> list[str]:
    return [
        "## Conventions in each file",
        "",
        "Token conventions differ per format; each file follows its format's documented one "
        "(`/work/shared/formats/sources.md`). *Uncached input* below means input that is "
        "neither a cache read nor a cache write.",
        "",
        "- **OpenRouter generations CSV**: the exact 24-column header of sources.md §1a. "
        "`tokens_prompt` includes `tokens_cached`; `tokens_completion` includes "
        "`tokens_reasoning`; `created_at` is UTC without offset (`2026-06-03 09:12:44.123`); "
        "`generation_id` is `gen-<unix seconds>-<16 chars>`; `cost_total` has up to 10 "
        "decimals; `cost_web_search`, `cost_cache`, `cost_file_processing`, "
        "`byok_usage_inference` are 0. Failed calls have `finish_reason_normalized` = `error`, "
        "an empty `finish_reason_raw` and zero tokens; cancelled calls have `cancelled` = `true` "
        "and empty finish reasons. There are no cache-write tokens in this format (Anthropic "
        "cache writes through OpenRouter are counted as prompt tokens and priced as input).",
        "- **OpenRouter activity CSV**: header "
        '`"Date","Slug","Usage","BYOK Usage","Requests","Prompt Tokens","Completion Tokens",'
        '"Reasoning Tokens"`, every value quoted, `Date` = `YYYY-MM-DD 00:00:00`, `Slug` the '
        "undated slug. `Usage` = the day's `cost_total`s of that slug; `Requests` counts every "
        "generation, failed ones included.",
        '- **OpenRouter activity JSON**: `{"data": [ActivityItem…]}`, one item per `date` x '
        "`model` x `endpoint_id`/`provider_name`; `usage` USD; `prompt_tokens` include cached "
        "tokens (no cached field); per day its `usage` sums to the activity CSV's.",
        '- **OpenRouter generation lookups**: one `{"data": {…}}` response per line. '
        "`native_tokens_*` are the billed counts and match the CSV; `tokens_prompt`/"
        "`tokens_completion` are *normalised* counts (about 7% lower for non-OpenAI models) — "
        "do not use them for cost. `total_cost` = `usage` = the CSV's `cost_total`; `latency` "
        "is the time to first token, `generation_time` the CSV's `generation_time_ms`.",
        "- **Gateway JSONL** (generic-jsonl.md field names): `input_tokens` EXCLUDES cache reads "
        "and writes, `output_tokens` INCLUDES `reasoning_tokens`, `cache_write_tokens` appears "
        "on Anthropic lines that wrote the prompt cache. Timestamps are mostly "
        "`2026-06-03T09:12:44.123Z`; lines from the `eu-central-1` gateway are sometimes local "
        "time with `+02:00`; about 5% are epoch milliseconds (JSON numbers). `cost_usd` is "
        "present for docs-bot and the rag-search canary only. `metadata` carries `region`, "
        "`gateway`, `upstream` (`openrouter` / `litellm-proxy`) and per caller `prefix_hash`, "
        "`bot_version`, ….",
        "- **Agent responses JSONL**: response-object lines `{timestamp, metadata, response}`. "
        "`response` is a raw OpenAI Chat Completions object (`prompt_tokens` includes "
        "`prompt_tokens_details.cached_tokens`), an OpenAI Responses object "
        '(`"object":"response"`, `input_tokens` includes `input_tokens_details.cached_tokens`)'
        " or an Anthropic Messages object (`input_tokens` excludes `cache_read_input_tokens` and "
        "`cache_creation_input_tokens`; runs by bob and ivan cache the system prompt with the "
        "1-hour TTL and carry `cache_creation.ephemeral_5m_input_tokens` / "
        "`ephemeral_1h_input_tokens`). No message content at all.",
        "- **Generic CSV**: header = the generic JSONL field names (timestamp, model, "
        "input_tokens, …, environment), same meanings: `input_tokens` uncached, "
        "`output_tokens` includes `reasoning_tokens` (blank for models without reasoning); "
        "empty cell = not known; `cost_usd` blank for the unpriced self-hosted model; "
        "`timestamp` RFC 3339 UTC with `Z`.",
        "- **Helicone JSONL**: `request_id` (Helicone's UUID, the id to dedup on), "
        "`response_id`, `request_created_at` ISO `Z`, `provider` `ANTHROPIC`/`OPENAI`, "
        "`request_model` as sent. `prompt_tokens` are the *uncached* input tokens (Helicone "
        "prices `prompt_tokens` + `prompt_cache_read_tokens` + `prompt_cache_write_tokens` "
        "separately); `total_tokens` = `prompt_tokens` + `completion_tokens`; no reasoning "
        "field (none of these models reason). `cost` USD. `request_properties` carries "
        "`app`, `environment`, `team`, `project`, `purpose`, `prompt_version`, `prefix_hash`, "
        "`Helicone-Session-Id`. Failed calls: `response_status` 429/500/408/400, zero tokens, "
        "`cost` 0.",
        "- **Helicone CSV**: header `response_id,response_created_at,response_status,"
        "request_created_at,request_body,request_properties,request_user_id,model,"
        "prompt_tokens,completion_tokens,latency,cost`, every value quoted, "
        "`request_properties` a JSON string, `request_body` empty (exported without "
        "`--include-body`), times `2026-06-03 09:12:44.123` (UTC, no offset). Staging does not "
        "use prompt caching, so `prompt_tokens` is the whole input. `response_id` is the id.",
        "- **LiteLLM spend logs**: a JSON array of `LiteLLM_SpendLogs` rows. `request_id` is the "
        "provider response id (`msg_…`, `chatcmpl-…`; LiteLLM's own `chatcmpl-<uuid>` for "
        "Gemini and failed calls). `prompt_tokens` = uncached input + cache reads (LiteLLM's "
        "Anthropic usage); cache writes are only in `metadata.usage_object."
        "cache_creation_input_tokens`; cache reads in `metadata.usage_object."
        "prompt_tokens_details.cached_tokens` (and `cache_read_input_tokens` for Anthropic); "
        "`completion_tokens` include reasoning (`completion_tokens_details.reasoning_tokens`). "
        "`spend` USD; `api_key` is the sha256 of the virtual key, its name is "
        "`metadata.user_api_key_alias`; attribution in `metadata.spend_logs_metadata` "
        "(`app`, `purpose`, `project`, `environment`, `top_k`, `prefix_hash`). Failed calls: "
        "`status` `failure`, zero tokens and spend, `metadata.error_information`.",
        "- **Langfuse observations**: every `observations_v2` field on every line (null where "
        "unset). One `SPAN` per nightly run (`name` `eval-run`, no usage — not an LLM call) "
        "and one `GENERATION` per call. `usage_details` buckets are mutually exclusive: "
        "`input` (uncached), `input_cached_tokens` (cache reads), `output` (visible output, "
        "EXCLUDING reasoning), `output_reasoning_tokens`, `total` = their sum; `cost_details` "
        "the same keys in USD, `total_cost` USD. Times `2026-06-03 02:01:12.345000` (UTC); "
        "`latency` and `time_to_first_token` in seconds. No provider field: "
        "`metadata.provider` says who served it. Failed calls: `level` `ERROR`, "
        "`status_message`, empty usage, `total_cost` null.",
        "- **Portkey JSONL**: `id` (UUID), `created_at` ISO `Z`, `ai_org`, `ai_model`, "
        "`req_units` (input), `res_units` (output), `cost` in **cents** (USD), `is_success`, "
        "`response_status_code`, `response_time` ms, `virtual_key` (per provider), "
        "`metadata._user` plus `app`, `team`, `project`, `purpose`, `environment`. "
        "copy-studio uses no prompt caching (prompts under 1k tokens) and no reasoning model.",
        "- **Claude Code transcripts**: `projects/-Users-<handle>-src-<project>/<sessionId>"
        ".jsonl`; the cwd names the user. Only `assistant` lines carry usage; `user`, "
        "`summary` and `file-history-snapshot` lines do not. One API call is written as 1–3 "
        "lines (one per content block: thinking, text, tool_use) with the **same** "
        "`message.id` and `requestId` and the same input/cache usage; a non-final line carries "
        "a smaller, partial `output_tokens` — the call's true usage is the line with the "
        "largest `output_tokens` (its last line, the one with `stop_reason`). Count each "
        "`message.id` once. Anthropic convention (`input_tokens` uncached, "
        "`cache_creation.ephemeral_5m/1h_input_tokens`). One session has a subagent file "
        "`<sessionId>/subagents/agent-<id>.jsonl` (`isSidechain` true, `agentId`) with three "
        "distinct calls of its own. One line is a synthetic API-error message (`model` "
        "`<synthetic>`, `isApiErrorMessage` true, zero usage, no `requestId`): not a billed "
        "call. No content (text is `(redacted)`), no key, no cost. Billed by Anthropic under "
        "`claude_code_key_<user>_xxxx` in workspace `Claude Code`.",
        "- **Bedrock invocation logs**: one gzip object per day (gzip mtime 0), JSON lines of "
        "`ModelInvocationLog` records, `operation` `Converse`, `timestamp` ISO to the second "
        "(UTC), `requestId` UUID, `modelId` the global cross-region profile "
        "(`global.anthropic.claude-haiku-4-5-20251001-v1:0`, "
        "`global.anthropic.claude-sonnet-4-6` — list price). `input.inputTokenCount` EXCLUDES "
        "cache; `cacheReadInputTokenCount`/`cacheWriteInputTokenCount` (5-minute writes); "
        "`output.outputTokenCount`. Attribution in `requestMetadata`; caller in `identity.arn`. "
        "Bodies are placeholders. No cost (priced from tokens; AWS bills via FOCUS).",
        "- **FOCUS 1.2 CSV**: one row per charge. Bedrock rows: `ServiceName` `Amazon Bedrock`, "
        "`ServiceCategory` `AI and Machine Learning`, `PublisherName` `Anthropic`, "
        "`ChargePeriodStart`/`End` one UTC day, `ChargeCategory` `Usage`, the model id in "
        "`ResourceName` (ARN in `ResourceId`, also in `SkuPriceDetails.ModelId`), the token "
        "type in `SkuMeter` (`Input Tokens`, `Output Tokens`, `Cache Read Input Tokens`, "
        "`Cache Write Input Tokens`), tokens in `ConsumedQuantity` (`Tokens`), `BilledCost` = "
        "`EffectiveCost` = `ListCost` exact. Four other rows (S3, EC2, CloudWatch for the "
        "whole month, and an EC2 `Credit` of -20) are not LLM spend and must be ignored.",
        "- **OpenAI Usage API JSON / Activity CSV**: `input_tokens` INCLUDES "
        "`input_cached_tokens`; `input_uncached_tokens` is the rest; no cache writes, no "
        "reasoning column; `num_model_requests` counts calls that consumed tokens; `model` "
        "the dated snapshot; `batch`/`service_tier`/`user_id` null (blank) — not grouped. "
        "Times: epoch seconds plus `…T00:00:00+00:00` in the CSV.",
        "- **OpenAI Costs API JSON / Cost CSV**: per day x project x `line_item` "
        "(`<snapshot>, input` / `, cached input` / `, output`); `amount.value` USD (exact "
        "decimal JSON number), CSV `amount_value` with 30 decimals; `quantity` tokens. The "
        "two files have the same lines; per day they equal the usage exports priced at list.",
        "- **Anthropic usage report JSON / Console usage CSV**: `uncached_input_tokens` / "
        "`usage_input_tokens_no_cache` EXCLUDE cache reads and writes; 5-minute and 1-hour "
        "writes apart. API: `workspace_id` null = Default workspace, the Claude Code keys are "
        "in workspace `Claude Code`; `api_key_id` `apikey_01…`. CSV: key *names*, workspace "
        "names, `context_window` `≤ 200k` (UTF-8).",
        '- **Anthropic cost report JSON**: `amount` = cents as a decimal string (`"123.45"` = '
        "$1.2345), exact; `description` `Claude Sonnet 4.6 Usage - Input Tokens` etc., "
        "`token_type` `uncached_input_tokens` / `cache_read_input_tokens` / "
        "`cache_creation.ephemeral_5m_input_tokens` / `…1h…` / `output_tokens`.",
        "- **Claude Console cost CSV**: display model names (`Claude Sonnet 4.6`), `usage_type` "
        "`message`, `token_type` `input_no_cache` / `input_cache_read` / "
        "`input_cache_write_5m` / `input_cache_write_1h` / `output`, `cost_usd` rounded half-up "
        "to 2 decimals (small lines show `0.00`). The month's largest line is split into two "
        "lines with identical keys (a whole-dollar part and the rest): sum them.",
    ]


def _readme_overlaps(reqs: Sequence[Request]) -> list[str]:
    docs = [r for r in reqs if r.channel == "openrouter+gateway"]
    mirror = [r for r in reqs if r.channel == "litellm+gateway"]
    lookups = generation_samples(reqs)
    sessions = cc_sessions(reqs)
    sub_sid, err_sid = cc_special(sessions)
    cc_lines = sum(len(cc_blocks(r)[0]) for r in on_channel(reqs, "claude-code"))
    return [
        "## Requests seen by more than one source (count each once)",
        "",
        "Every request is in exactly one request-level source, except these deliberate "
        "overlaps, which always carry the same id in both places:",
        "",
        f"- **docs-bot** ({len(docs)} requests, key `docs-bot-prod`): in the OpenRouter "
        "generations CSV and in the gateway JSONL (provider `openrouter`, `request_id` = "
        "`generation_id`, same timestamp to the millisecond, same tokens, `cost_usd` = "
        "`cost_total`).",
        f"- **rag-search canary** ({len(mirror)} requests on 06-01 and 06-02, key "
        "`prod-backend`, `metadata.route` `gateway-canary`): the gateway forwarded them to the "
        "LiteLLM proxy, so they are in the gateway JSONL (provider `anthropic`/`openai`, "
        "`metadata.upstream` `litellm-proxy`) and in the LiteLLM spend logs, both with the "
        "provider's response id (`msg_…`/`chatcmpl-…`) as `request_id`, the same start time, "
        "tokens and cost.",
        f"- **OpenRouter generation lookups** ({len(lookups)} requests): "
        + ", ".join(f"`{r.request_id}`" for r in lookups)
        + " are in the generations CSV too (one is also a docs-bot request, so it is in three "
        "files).",
        f"- **Claude Code**: {len(on_channel(reqs, 'claude-code'))} calls are written on "
        f"{cc_lines:,} assistant lines (same `message.id` + `requestId` repeated per content "
        "block; plus one synthetic API-error line). "
        f"Session `{sub_sid}` has a subagent file with its last 3 calls; session "
        f"`{err_sid}` ends with the synthetic API-error line.",
        "",
        "Billing exports never overlap request files in money: they are the other layer (see "
        "above). The Helicone JSONL and CSV cover different organisations (production, "
        "staging), so they share no request.",
    ]


def _readme_may(
    june: Sequence[Request], may: Sequence[Request], stats: dict[str, FileStats], seed: int
) -> list[str]:
    lay, june_lay = layers(may, MAY, tuple(MAY_BILLING_EXPORTS)), layers(june)
    errors = sum(r.status == "error" for r in may)
    first, last = (datetime.fromtimestamp(t / 1000, UTC) for t in (may[0].t_ms, may[-1].t_ms))

    def list_price(rs: Sequence[Request], keep: Callable[[Request], bool]) -> Decimal:
        return sum((cost_or_zero(r) for r in rs if keep(r)), Decimal(0))

    def change(before: Decimal, after: Decimal) -> str:
        growth = f"{after / before - 1:+.0%}" if before else "new"
        return f"{_dollars(before)} → {_dollars(after)} ({growth})"

    def opus(r: Request) -> bool:
        return r.model.key == "claude-opus-4-8"

    in_both = {s.name for s in (*MAY_BASE_STREAMS, *MAY_PLANTED_STREAMS)}
    both_june = sum(r.stream.name in in_both for r in june)
    website = [r for r in june if r.stream.project == "website"]
    stale = [r for r in may if r.pattern == "stale-key"]
    lines = [
        "## May 2026 (the previous month)",
        "",
        f"The month before, for the report's month over month: **{len(may):,} distinct "
        f"requests**, list-price cost **{_dollars(list_price(may, lambda r: True))}**, {errors} "
        f"failed calls, from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC (nothing in "
        f"May's last hour). Seed `{seed + MAY_SEED_DELTA}` (June's seed − {-MAY_SEED_DELTA}: "
        "May draws from its own random stream, so June's files do not depend on it). "
        f"**Expected report total for 2026-05: {usd(lay.total)} USD** ({_dollars(lay.total)}, "
        f"{lay.total / june_lay.total:.0%} of June's): billed for "
        + ", ".join(MAY_BILLING_EXPORTS)
        + ", logged list price for the rest; each request counted once.",
        "",
        "The same people, keys and services as in June (less copy-studio), seen through fewer "
        "exports, each in the format of the June file of the same name. The laptops' and "
        "docs-bot's calls are in the OpenRouter generations CSV; every direct provider call is "
        "in the gateway JSONL, because in May forge-agent, Claude Code, support-bot, rag-search, "
        "the nightly eval, doc-intake (to Bedrock) and release-notes-bot called their providers "
        "through the company gateway. Those callers' gateway lines carry only the attribution "
        "their June source records (Claude Code: `project` and `app`; forge-agent: `key_name`, "
        "no key id; support-bot, the nightly eval, doc-intake and rag-search: no key), so the "
        "month-over-month rows compare like with like and no May key is unknown to June.",
        "",
        "| file | what it is | how to get such an export | granularity | rows | USD |",
        "|---|---|---|---|---|---:|",
    ]
    for out in MAY_WRITERS:
        st = stats[out.rel]
        lines.append(
            f"| `{out.rel}` | {out.what} | {out.obtain} | {out.granularity} | {st.rows:,} | "
            f"{usd(st.cost)} |"
        )
    lines += [
        "",
        "| provider | billing export (money) | billed | logged | counted in the expected total |",
        "|---|---|---:|---:|---|",
    ]
    for p in PROVIDERS:
        logged = sum(lay.logged[p], Decimal(0))
        if p in lay.billed:
            billed = usd(sum(lay.billed[p], Decimal(0)))
            lines.append(
                f"| {p} | `{MAY_BILLING_EXPORTS[p]}` | {billed} | {usd(logged)} | billed |"
            )
        else:
            lines.append(f"| {p} | — | — | {usd(logged)} | logged |")
    lines += [
        "",
        "Each billing export equals its provider's logged requests on every day (May has no "
        "unlogged traffic), so May reconciles cleanly; doc-intake's Bedrock calls have no "
        "billing export for May and count at list price.",
        "",
        "What the June report's month over month shows:",
        "",
        f"- **Total**: {change(lay.total, june_lay.total)}. The callers of both months made "
        f"{both_june / len(may) - 1:.0%} more calls in June (adoption grows through both "
        "months, with the same weekday rhythm; June's release week 06-22 .. 06-26 is busier).",
        "- **claude-opus-4-8** (list price of its requests): "
        f"{change(list_price(may, opus), list_price(june, opus))}. Opus use grew in June: in "
        "May it had a third of its June weight in the model mixes of bob's Cline, forge-agent "
        "and Claude Code, and Dmitri did not yet autocomplete with it.",
        f"- **New in June**: the project `website` (copy-studio through Portkey, "
        f"{_dollars(list_price(website, lambda r: True))}), the unpriced triage canary, "
        f"legacy-batch-key's unlogged Anthropic traffic "
        f"({_dollars(list_price(unlogged_requests(june), lambda r: True))}) and the planted "
        "patterns: May has no waste pattern, no retry storm and no leaked-looking secret.",
        f"- **Unchanged story**: `proto-experiment-2025` ran its cron job in May too "
        f"({len(stale)} lines, 2–5 every day, {_dollars(list_price(stale, lambda r: True))}), so "
        "the May report flags it as a stale key as well. Ivan took up Aider on 05-20, on his "
        "old MacBook's key `ivan-old-macbook` (he moved to `ivan-laptop` on 06-08).",
    ]
    return lines


def readme(
    reqs: Sequence[Request], may: Sequence[Request], stats: dict[str, FileStats], seed: int
) -> str:
    by_pattern: dict[str, list[Request]] = {}
    for r in reqs:
        if r.pattern:
            by_pattern.setdefault(r.pattern, []).append(r)
    lay = layers(reqs)
    leaked = [r for r in reqs if r.logged_api_key.startswith("sk-")]
    total_cost = sum((r.cost() or Decimal(0) for r in reqs), Decimal(0))
    errors = sum(r.status == "error" for r in reqs)
    storm_reqs = by_pattern.get("retry-storm", [])
    storm_parts = []
    for sid in sorted({r.session_id or "" for r in storm_reqs}):
        burst = [r for r in storm_reqs if r.session_id == sid]
        day = datetime.fromtimestamp(burst[0].t_ms / 1000, UTC)
        storm_parts.append(f"`{sid}` on {day:%m-%d} from {day:%H:%M} UTC ({len(burst)} failures)")
    storm_sizes = "; ".join(storm_parts)
    regen = by_pattern.get("redundant-regeneration", [])
    cancelled_or = sum(r.status == "cancelled" for r in on_openrouter(reqs))
    cancelled_gw = sum(r.status == "cancelled" and r.channel == "gateway" for r in reqs)
    timeouts_with_input = sum(r.uncached > 0 for r in by_pattern.get("retry-storm", []))
    lines = [
        "# Sample exports — June 2026 (and May 2026)",
        "",
        "Generated by `scripts/generate_sample_exports.py` (standard library only, seeded, no wall "
        "clock): **do not edit these files by hand** — change the script and regenerate. Every "
        "name, number and cost below is computed from the generated data.",
        "",
        f"One month (2026-06-01 .. 2026-06-30 UTC) of LLM traffic at {COMPANY}: "
        f"**{len(reqs):,} distinct requests**, list-price cost **{_dollars(total_cost)}** "
        f"(counting each request once), {errors} failed calls "
        f"({errors / len(reqs):.1%}), seen through {len(WRITERS)} exports of "
        f"{len({o.writer for o in WRITERS})} formats. Seed `{seed}`. "
        f"**Expected report total: {usd(lay.total)} USD** (billed where a billing export "
        "exists, logged otherwise; see *Billed and logged totals*). A smaller previous month, "
        "for the month over month, is described in *May 2026*.",
        "",
        *_readme_files(stats),
        "",
        "Cost is the list price of each request's tokens (public list prices, the period "
        "covering June 2026): uncached input at the input price, cache reads at the cache-read "
        "price, Anthropic cache writes at the 5-minute or 1-hour write price, output (reasoning "
        "included) at the output price. No request crosses a long-context tier; Bedrock calls "
        "use the `global.` profiles, which cost list price.",
        "",
        *_readme_layers(reqs, lay),
        "",
        *_readme_may(reqs, may, stats, seed),
        "",
        *_readme_overlaps(reqs),
        "",
        *_readme_conventions(),
        "",
        "## People",
        "",
        "| name | handle (`user`) | email | team | works from |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {p.name} | `{p.handle}` | {p.email} | `{p.team}` | {p.city} (UTC{p.utc_offset:+d}) |"
        for p in PEOPLE
    ]
    lines += [
        "",
        "## Traffic streams",
        "",
        "Each stream is one caller with one key through one channel; the channel says which "
        "request file logs it:",
        "",
        *[f"- `{ch}`: {where}" for ch, where in CHANNEL_FILES.items()],
        "",
        "Who billed a request: OpenRouter for `openrouter*` channels, AWS (`bedrock`) for "
        "`bedrock`, otherwise the model's vendor (direct API keys). Provider keys behind the "
        "tools (what the OpenAI and Anthropic exports group by): `llm-gateway` (gateway), "
        "`litellm-proxy` (LiteLLM), `portkey-copy-studio` (Portkey), otherwise the stream's own "
        "key name.",
        "",
        "| stream | channel | key name(s) (key id) | caller | env | project | purposes | "
        "models | requests |",
        "|---|---|---|---|---|---|---|---|---:|",
    ]
    per_stream: dict[str, list[Request]] = {}
    for r in reqs:
        per_stream.setdefault(r.stream.name, []).append(r)
    for s in (*BASE_STREAMS, *PLANTED_STREAMS):
        rs = per_stream.get(s.name, [])
        if not rs:
            continue
        keys = sorted({r.key.name for r in rs})
        key_text = ", ".join(
            f"`{k}`" + ("" if s.channel in ("agent", "claude-code") else f" (`{KEYS[k].key_id}`)")
            for k in keys
        )
        purposes = ", ".join(sorted({r.purpose or "—" for r in rs}))
        model_ids = ", ".join(sorted({r.model.key for r in rs}))
        caller = f"`{s.user}`" if s.user else (s.service or "— (nobody)")
        lines.append(
            f"| {s.name} | {s.channel} | {key_text} | {caller} | {s.environment or '—'}"
            f" | {s.project or '—'} | {purposes} | {model_ids} | {len(rs)} |"
        )
    lines += [
        "",
        "`ivan-old-macbook` was used until 2026-06-08 and is now disabled "
        "(`api_key_disabled` = `true` on its rows). Key ids in parentheses are what the "
        "gateway JSONL and the generic CSV log as `api_key`.",
        "",
        "## Models and the ids used for them",
        "",
        "| model | vendor | ids in request files (not OpenRouter) | OpenRouter slug (activity) | "
        "OpenRouter permaslug (generations) | list price in / cached / out per 1M |",
        "|---|---|---|---|---|---|",
    ]
    for m in MODELS.values():
        ids = sorted(
            {r.model_id for r in reqs if r.model is m and not r.channel.startswith("openrouter")}
            | {r.model.snapshot for r in reqs if r.model is m and r.channel == "agent"}
        )
        price = (
            f"{m.price.input} / {m.price.cached} / {m.price.output}"
            if m.price
            else "none (unpriced)"
        )
        display = f" (Console: {ANTHROPIC_DISPLAY[m.key]})" if m.key in ANTHROPIC_DISPLAY else ""
        lines.append(
            f"| {m.key}{display} | {m.vendor} | {', '.join(f'`{i}`' for i in ids) or '—'} | "
            f"{'`' + m.or_slug + '`' if m.or_slug else '—'} | "
            f"{'`' + m.or_permaslug + '`' if m.or_permaslug else '—'} | {price} |"
        )
    gw = f"`app-logs/gateway-{MONTH}.jsonl`"
    lines += [
        "",
        "## Planted patterns (what the detectors should find)",
        "",
        "Everything outside these is clean: prompt hashes are unique except in regeneration "
        "clusters and retry chains; no other successful call to a premium model "
        "(claude-opus-4-8, gpt-5.5) has a prompt under 2k tokens; no other input exceeds "
        "100k tokens; every other gateway line has a team and project.",
        "",
        f"1. **Overqualification** — {len(by_pattern.get('overqualification', []))} lines in "
        f"{gw} from Dmitri Volkov (`user` `dvolkov`, key `dmitri-ide`, app `Continue`) using "
        "`claude-opus-4-8` and `gpt-5.5` for `autocomplete` and `commit-message` with inputs "
        "under 2k tokens and outputs under 150 tokens (his other autocomplete goes to cheap "
        "models). Days: " + _days(by_pattern.get("overqualification", [])) + ".",
        f"2. **Redundant regeneration** — {len({r.prompt_hash for r in regen})} clusters "
        f"({len(regen)} lines) in {gw} from Erin Walsh (`ewalsh`, key `erin-ide`, "
        "`claude-sonnet-4-6`): the same `prompt_hash` and `session_id` 2–4 times within a few "
        "minutes; the first answer has `outcome` `rejected`, each repeat `regenerated`. No "
        "other line has `outcome` `regenerated`.",
        f"3. **Context bloat** — {len(by_pattern.get('context-bloat', []))} `rag-search` rows "
        f"in `litellm/spend_logs_{MONTH}.json` (key alias `prod-backend`, "
        "`spend_logs_metadata.purpose` `rag-answer`, `claude-sonnet-4-6`) with 120k–180k "
        "input tokens and ~200 output tokens (`spend_logs_metadata.top_k` 400); the service's "
        "usual input is 4k–6k (`top_k` 8). Days: "
        + _days(by_pattern.get("context-bloat", []))
        + ".",
        f"4. **Stale key** — key `proto-experiment-2025` (`{KEYS['proto-experiment-2025'].key_id}`)"
        f": {len(by_pattern.get('stale-key', []))} lines in {gw}, 2–5 every day of the month "
        "(at minute 17, a forgotten cron job), all `gpt-4.1`, with no `user`, `team`, "
        "`project`, `environment`, `purpose` or `app`.",
        f"5. **Retry storm** — {len(by_pattern.get('retry-storm', []))} failed `ci-pipeline` "
        f"calls in {gw} (key `ci-runner`, `gpt-5.4-mini`) in bursts of 10–30, a few seconds "
        "apart, same `prompt_hash` and `session_id` per burst, http 429 `rate_limit`, 500 "
        f"`server_error` and 408 `timeout`; {timeouts_with_input} of the timeouts consumed "
        f"input tokens. Bursts: {storm_sizes}. Bursts 1 and 3 end with one successful call.",
        f"6. **Cache miss** — {len(by_pattern.get('cache-miss', []))} `code-review-bot` lines "
        f"in {gw} (key `code-review-bot-ci`, `claude-sonnet-4-6`) on 06-15 .. 06-19 resend "
        "the same ~8k-token system prompt (`metadata.prefix_hash` "
        f"`{prefix_hash(CODE_REVIEW_PREFIX)}`) with `cached_input_tokens` 0 and no cache "
        "writes (`metadata.bot_version` 2.3.0 dropped `cache_control`); on other days the same "
        "prefix is read from cache.",
        f"7. **Output waste** — {len(by_pattern.get('output-waste', []))} `support-bot` "
        f"`summarize` records in `helicone/helicone_export_{MONTH}.jsonl` (key "
        "`support-bot-prod`, `claude-haiku-4-5-20251001`) on 06-09 12:00–18:00 UTC and 06-23 "
        "08:00–13:00 UTC with `completion_tokens` 5–10x the usual ~260 "
        "(`request_properties.prompt_version` `summary-v14`, normally `summary-v13`).",
        "",
        "## Other things the sample exercises",
        "",
        "- **Unlogged spend**: `legacy-batch-key` appears only in the four Anthropic exports "
        "(see *Billed and logged totals*); on its days Anthropic's bill exceeds what the logs "
        "explain, and the difference is unattributed.",
        f"- **Unpriced model**: {len(by_pattern.get('unpriced', []))} rows in "
        f"`app-logs/llm-calls-{MONTH}.csv` for `acme/llama-ft-support-v3` (provider "
        "`self-hosted`, app `triage-classifier`, key `triage-canary`, from 06-15, blank "
        "`cost_usd`); no price table knows it, so the report must list it as unpriced rather "
        "than $0.",
        f"- **Leaked-looking secrets**: {len(leaked)} gateway lines log a full-looking FAKE "
        "secret in `api_key` instead of the key id: "
        + "; ".join(
            f"{sum(r.stream.name == name for r in leaked)} `{KEYS[key].name}` lines from "
            f"06-{day + 1:02d} (`{prefix}…`)"
            for name, day, _, prefix in LEAKED_SECRETS
            for key in (next(s.key for s in BASE_STREAMS if s.name == name),)
        )
        + ". tokaudit must mask them. They contain `FAKE` and deliberately do not match the "
        "providers' exact key formats, so secret scanners do not block commits.",
        "- **Prompt caching**: Anthropic callers write the cache when it is cold and read it "
        "within 5 minutes (1 hour for forge-agent and Claude Code system prompts); OpenAI, "
        "Gemini and DeepSeek cache automatically (OpenAI in 128-token steps); Bedrock "
        "doc-intake caches its system prompt (5 minutes).",
        "- **Reasoning**: gpt-5.5, gpt-5.4-mini, gemini-2.5-pro/-flash and deepseek-v4-flash "
        "report reasoning tokens (inside the output count, except in Langfuse, where "
        "`output` excludes `output_reasoning_tokens`).",
        "- **Errors** outside the storms: 429/500/408/400 on ~1–3% of most streams. "
        f"**Cancelled** calls (the user pressed stop; partial output): {cancelled_or} in the "
        f"generations CSV (`cancelled` = `true`), {cancelled_gw} in the gateway JSONL "
        "(`status` `cancelled`, `http_status` 499).",
        "",
        "## Regenerate",
        "",
        "```",
        "python scripts/generate_sample_exports.py                 # rewrite sample_exports/",
        "python scripts/generate_sample_exports.py --check         # exit 1 if it is stale",
        "python scripts/generate_sample_exports.py --out /tmp/big --requests 50000 --seed 7",
        "```",
        "",
        f"`--requests N` (default {DEFAULT_REQUESTS}) is the number of distinct requests in "
        "June: the planted patterns keep their size and the ordinary traffic scales; May has "
        f"{MAY_SHARE:.0%} of it. `--seed N` (default {DEFAULT_SEED}) gives a different but "
        f"equally deterministic pair of months (May uses N − {-MAY_SEED_DELTA}). Output "
        "depends only on the arguments and on Python's `random` algorithms (stable across "
        "CPython 3.11+); `--check` compares `.gz` objects by their decompressed content and "
        "leaves the hand-written " + ", ".join(f"`{f}`" for f in HAND_WRITTEN) + " alone.",
        "",
    ]
    return "\n".join(lines)


# ════════════════════════════════════════════════════════════════════════════════════════
# CLI
# ════════════════════════════════════════════════════════════════════════════════════════

README = "README.md"
TREES = ("claude-code/projects", "aws/bedrock-invocation-logs")  # folder writers
HAND_WRITTEN = ("tokaudit.yaml",)  # kept in the output folder, not generated: --check ignores it


def write_all(
    out: Path, seed: int, total: int
) -> tuple[list[str], dict[str, FileStats], list[Request], list[Request]]:
    """Write every export (June's and May's) and the README.

    Returns the written files (relative), the stats per output, June's and May's requests.
    """
    june, may = generate_month(seed, total), generate_may(seed, total)
    stats: dict[str, FileStats] = {}
    files: list[str] = []
    for outputs, reqs in ((WRITERS, june), (MAY_WRITERS, may)):
        for output in outputs:
            path = out / output.rel
            (path if output.rel in TREES else path.parent).mkdir(parents=True, exist_ok=True)
            st = output.writer(reqs, path)
            stats[output.rel] = st
            files += [f"{output.rel}/{f}" for f in st.files] if st.files else [output.rel]
    (out / README).write_text(readme(june, may, stats, seed), encoding="utf-8", newline="\n")
    return [*files, README], stats, june, may


def same_file(a: Path, b: Path) -> bool:
    """Byte equality; gzip objects compare by content (zlib builds may compress differently)."""
    if a.suffix == ".gz":
        return gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())
    return a.read_bytes() == b.read_bytes()


def stale_files(out: Path, fresh: Path, files: list[str]) -> list[str]:
    stale = [f for f in files if not (out / f).is_file() or not same_file(out / f, fresh / f)]
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    return stale + sorted(present - set(files) - set(HAND_WRITTEN))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "sample_exports",
        help="output directory (default: sample_exports/ next to scripts/)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed")
    parser.add_argument(
        "--requests",
        type=int,
        default=DEFAULT_REQUESTS,
        help="distinct requests in the month (planted patterns keep their size)",
    )
    parser.add_argument(
        "--check", action="store_true", help="regenerate into a temp dir; exit 1 if --out differs"
    )
    args = parser.parse_args(argv)
    minimum = planted_count(args.seed) + 200
    if args.requests < minimum:
        parser.error(
            f"--requests must be at least {minimum} (the planted patterns alone "
            f"are {minimum - 200})"
        )
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            files, _, _, _ = write_all(Path(tmp), args.seed, args.requests)
            stale = stale_files(args.out, Path(tmp), files)
        if stale:
            print(f"stale sample exports in {args.out}: {', '.join(stale)}", file=sys.stderr)
            print("run: python scripts/generate_sample_exports.py", file=sys.stderr)
            return 1
        print(f"sample exports in {args.out} are up to date")
        return 0
    _, stats, reqs, may = write_all(args.out, args.seed, args.requests)
    for label, month_reqs, outputs, lay in (
        (JUNE.label, reqs, WRITERS, layers(reqs)),
        (MAY.label, may, MAY_WRITERS, layers(may, MAY, tuple(MAY_BILLING_EXPORTS))),
    ):
        print(f"{label}: {len(month_reqs)} distinct requests -> {args.out}")
        for output in outputs:
            st = stats[output.rel]
            print(
                f"  {output.rel}: {st.rows} rows"
                + (f" in {len(st.files)} files" if st.files else "")
                + f", ${usd(st.cost)}"
                + (f", {st.unpriced} unpriced" if st.unpriced else "")
            )
        for p in PROVIDERS:
            logged = sum(lay.logged[p], Decimal(0))
            billed = f"billed {usd(sum(lay.billed[p], Decimal(0)))}, " if p in lay.billed else ""
            print(f"  {p}: {billed}logged {usd(logged)}")
        print(
            f"{label} expected report total (billed where exported, else logged): "
            f"{usd(lay.total)} USD"
        )
    print(f"  {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
