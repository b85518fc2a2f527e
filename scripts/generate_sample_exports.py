#!/usr/bin/env python3
"""Generate deterministic sample exports: June 2026 of a fictional company's LLM traffic.

The script has three layers, in this order:

1. **Scenario** - people, API keys, models with their June-2026 list prices, and *streams*
   (who calls which model, through which channel, for what purpose, at what rhythm).
2. **Request generator** - turns the scenario into a list of ``Request`` events. It is pure:
   every random choice comes from one ``random.Random(seed)``, there is no wall clock, and the
   same seed and size always give the same events. The planted waste patterns are made here.
3. **Writers** - one function per export format, each turning the events into one file.
   A new format is one more writer in ``WRITERS``.

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
import hashlib
import json
import math
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# ════════════════════════════════════════════════════════════════════════════════════════
# 1. Scenario
# ════════════════════════════════════════════════════════════════════════════════════════

MONTH = "2026-06"
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
START_MS = int(MONTH_START.timestamp()) * 1000
END_MS = START_MS + DAYS * DAY_MS
DEFAULT_SEED = 20260601
DEFAULT_REQUESTS = 5000
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
    system: str  # openrouter | gateway | openai+anthropic (agent SDK keys)
    disabled: bool = False

    @property
    def key_id(self) -> str:
        short = {"production": "prod", "staging": "stg", "dev": "dev", "ci": "ci"}[self.environment]
        return f"key_{short}_{hashlib.sha256(self.name.encode()).hexdigest()[:4]}"


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
        ApiKey("eval-runner", "ci", "nightly-eval", "openrouter"),
        ApiKey("docs-bot-prod", "production", "docs-bot", "openrouter"),
        # company gateway keys
        *(ApiKey(f"{p.first}-ide", "dev", p.handle, "gateway") for p in PEOPLE),
        ApiKey("support-bot-prod", "production", "support-bot", "gateway"),
        ApiKey("support-bot-staging", "staging", "support-bot", "gateway"),
        ApiKey("prod-backend", "production", "rag-search", "gateway"),
        ApiKey("staging-backend", "staging", "rag-search", "gateway"),
        ApiKey("code-review-bot-ci", "ci", "code-review-bot", "gateway"),
        ApiKey("ci-runner", "ci", "ci-pipeline", "gateway"),
        ApiKey("triage-canary", "production", "triage-classifier", "gateway"),
        ApiKey("proto-experiment-2025", "dev", "", "gateway"),
        # provider keys used by the internal agent (logged as raw response objects)
        *(
            ApiKey(f"forge-{n}", "dev", PERSON[n].handle, "openai+anthropic")
            for n in ("alice", "bob", "gustavo", "hana", "ivan")
        ),
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
    channel: str  # openrouter | gateway | agent | openrouter+gateway (logged by both)
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
    days: tuple[int, int] = (0, DAYS - 1)  # day indexes (0 = June 1) the stream is active
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
    old_key: tuple[int, str] | None = None  # (day index, key) used before that day


# --- OpenRouter traffic: people's laptop tools, the nightly eval, docs-bot -----------------
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
    Stream(
        "openrouter/nightly-eval",
        "openrouter",
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
    ),
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

# --- Company gateway traffic (direct provider calls) ---------------------------------------
SUPPORT_SYS = 4_300  # support-bot system prompt + few-shot examples
RAG_SYS = 1_150
CODE_REVIEW_SYS = 8_192
CODE_REVIEW_PREFIX = "code-review-system-v7"
SUPPORT_PREFIX = "support-summary-system-v13"
RAG_PREFIX = "rag-answer-system-claude-v5"

SERVICE_STREAMS: tuple[Stream, ...] = (
    Stream(
        "gateway/support-bot/summarize",
        "gateway",
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
        "gateway/support-bot/classify",
        "gateway",
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
    Stream(
        "gateway/support-bot/staging",
        "gateway",
        "support-bot-staging",
        40,
        office(2),
        (Route("summarize", 1.0, (("claude-haiku-4-5", 1.0),), (1, 4), (20, 90), SUPPORT_SYS),),
        app="support-bot",
        service="support-bot",
        team="support-tools",
        project="helpdesk",
        environment="staging",
        explicit_cache=True,
        error_rate=0.02,
        api_ids=(("claude-haiku-4-5", "claude-haiku-4-5-20251001"),),
        extra=(("prompt_version", "summary-v14-rc1"),),
    ),
    Stream(
        "gateway/rag-search/production",
        "gateway",
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
        "gateway/rag-search/staging",
        "gateway",
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
    "gateway/rag-search/production/bloat",
    "gateway",
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
    "gateway/triage-classifier",
    "gateway",
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
    *SERVICE_STREAMS,
    *IDE_STREAMS,
    *AGENT_STREAMS,
)
PLANTED_STREAMS: tuple[Stream, ...] = (
    DOCS_BOT,
    OVERQUALIFIED,
    REGENERATION,
    CONTEXT_BLOAT,
    STALE_KEY,
    UNPRICED,
)


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

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
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
        digest = hashlib.sha256(f"acme-synthetic-prompt-{self.prompts:06d}".encode()).hexdigest()
        return f"sha256:{digest}"

    def counter(self, name: str, start: int) -> int:
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


def day_weight(rhythm: Rhythm, day: int) -> float:
    weekday = (date(2026, 6, 1) + timedelta(days=day)).weekday()
    w = 1.0 if weekday < 5 else rhythm.weekend
    w *= 0.92 + 0.16 * day / (DAYS - 1)  # adoption grows through the month
    if rhythm.crunch and 21 <= day <= 25:
        w *= 1.12
    return w


def sample_start(m: Month, rhythm: Rhythm, day_weights: list[float]) -> int:
    while True:
        d = m.rng.choices(range(DAYS), weights=day_weights)[0]
        h = m.rng.choices(range(24), weights=rhythm.hours)[0]
        t = START_MS + d * DAY_MS + (h - rhythm.utc_offset) * HOUR_MS + m.rng.randrange(HOUR_MS)
        if START_MS <= t < END_MS:
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
    return f"sess_{m.text(HEX, 12)}"


def new_session(m: Month, stream: Stream, times: list[int], route: Route | None = None) -> Session:
    route = (
        route
        or stream.routes[
            m.rng.choices(range(len(stream.routes)), weights=[r.weight for r in stream.routes])[0]
        ]
    )
    model = MODELS[m.pick(route.models)]
    api = None
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
    if stream.rhythm.kind == "nightly":
        per_night = [count // DAYS + (1 if d < count % DAYS else 0) for d in range(DAYS)]
        for d, n in enumerate(per_night):
            if n:
                t = START_MS + d * DAY_MS + 2 * HOUR_MS + m.rng.randrange(5 * MIN_MS)
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
        for d in range(DAYS):
            hours = sorted(m.rng.sample((2, 8, 11, 14, 17, 20), m.rng.randint(2, 5)))
            for h in hours:
                t = START_MS + d * DAY_MS + h * HOUR_MS + 17 * MIN_MS + m.rng.randrange(4000)
                sessions.append(new_session(m, stream, [t]))
        return sessions
    lo, hi = stream.days
    weights = [day_weight(stream.rhythm, d) if lo <= d <= hi else 0.0 for d in range(DAYS)]
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
            if t >= END_MS or any(a <= t <= b for a, b in windows):
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
        m, req, total, cacheable, warm, stream.agentic, explicit, FORGE_SYS if one_hour else 0
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


def finalise(m: Month, reqs: list[Request]) -> list[Request]:
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
        if r.channel == "gateway":
            roll = m.rng.random()
            if roll < 0.05:
                r.ts_style = "epoch"
            elif r.stream.region == "eu-central-1" and roll < 0.30:
                r.ts_style = "offset"
    for stream_name, day, lines, prefix in LEAKED_SECRETS:
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


def new_request_id(m: Month, r: Request) -> str:
    if r.channel.startswith("openrouter"):
        return f"gen-{r.t_ms // 1000}-{m.text(ALNUM, 16)}"
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
        h = m.text(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"
    if vendor == "mistral":
        return "cmpl-" + m.text(HEX, 32)
    return "chatcmpl-" + m.text(HEX, 32)  # vLLM


def planted_count(seed: int) -> int:
    return len(generate_month(seed, None))


def generate_month(seed: int, total: int | None) -> list[Request]:
    """All calls of the month. ``total`` = number of distinct calls (None: planted calls only)."""
    m = Month(seed)
    reqs = plant_retry_storms(m)
    for stream in PLANTED_STREAMS:
        reqs += stream_requests(m, stream, stream.volume)
    if total is not None:
        base = total - len(reqs)
        weights = [s.volume for s in BASE_STREAMS]
        exact = [base * w / sum(weights) for w in weights]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
        for i in by_remainder[: base - sum(counts)]:
            counts[i] += 1
        for stream, n in zip(BASE_STREAMS, counts, strict=True):
            reqs += stream_requests(m, stream, n)
    return finalise(m, reqs)


# ════════════════════════════════════════════════════════════════════════════════════════
# 3. Writers (one per export format)
# ════════════════════════════════════════════════════════════════════════════════════════


@dataclass
class FileStats:
    rows: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    errors: int = 0


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


def json_line(obj: dict[str, object]) -> str:
    """Compact JSON; Decimal values are written as plain JSON numbers (never floats)."""
    parts = []
    for k, v in obj.items():
        text = usd(v) if isinstance(v, Decimal) else json.dumps(v, separators=(",", ":"))
        parts.append(f"{json.dumps(k)}:{text}")
    return "{" + ",".join(parts) + "}\n"


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
    line: dict[str, object] = {
        "request_id": r.request_id,
        "timestamp": ts,
        "provider": "openrouter" if double_logged else r.model.vendor,
        "model": r.model.or_slug if double_logged else r.model_id,
        "input_tokens": r.uncached,
        "cached_input_tokens": r.cached,
    }
    if r.write_5m or r.write_1h:
        line["cache_write_tokens"] = r.write_5m + r.write_1h
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
    meta.update(r.metadata)
    line["metadata"] = meta
    return line


def write_gateway_jsonl(reqs: Sequence[Request], path: Path) -> FileStats:
    stats = FileStats()
    with path.open("w", newline="", encoding="utf-8") as fh:
        for r in reqs:
            if r.channel in ("gateway", "openrouter+gateway"):
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


Writer = Callable[[Sequence[Request], Path], FileStats]
WRITERS: tuple[tuple[str, str, Writer], ...] = (
    (
        f"openrouter/openrouter_generations_{MONTH}.csv",
        "OpenRouter per-generation CSV (24 columns), one row per call routed through OpenRouter",
        write_openrouter_generations,
    ),
    (
        f"openrouter/openrouter_activity_{MONTH}.csv",
        "OpenRouter activity CSV grouped by Model: one row per UTC day x model slug, "
        "aggregated from the generations file",
        write_openrouter_activity,
    ),
    (
        f"app-logs/gateway-{MONTH}.jsonl",
        "tokaudit generic JSONL written by the company LLM gateway (direct provider calls)",
        write_gateway_jsonl,
    ),
    (
        f"app-logs/agent-responses-{MONTH}.jsonl",
        "generic JSONL response-object lines: forge-agent's raw provider responses",
        write_agent_jsonl,
    ),
)


# ════════════════════════════════════════════════════════════════════════════════════════
# README (generated from the same scenario, so names and numbers never drift)
# ════════════════════════════════════════════════════════════════════════════════════════


def _dollars(d: Decimal) -> str:
    return f"${d.quantize(Decimal('0.01')):,}"


def _days(reqs: Sequence[Request]) -> str:
    days = sorted({f"{datetime.fromtimestamp(r.t_ms / 1000, UTC):%m-%d}" for r in reqs})
    return ", ".join(days) if len(days) <= 8 else f"{days[0]} .. {days[-1]} ({len(days)} days)"


def readme(reqs: Sequence[Request], stats: dict[str, FileStats], seed: int) -> str:
    by_pattern: dict[str, list[Request]] = {}
    for r in reqs:
        if r.pattern:
            by_pattern.setdefault(r.pattern, []).append(r)
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
        "# Sample exports — June 2026",
        "",
        "Generated by `scripts/generate_sample_exports.py` (standard library only, seeded, no wall "
        "clock): **do not edit these files by hand** — change the script and regenerate. Every "
        "name, number and cost below is computed from the generated data.",
        "",
        f"One month (2026-06-01 .. 2026-06-30 UTC) of LLM traffic at {COMPANY}: "
        f"**{len(reqs):,} distinct requests**, list-price cost **{_dollars(total_cost)}** "
        f"(counting each request once), {errors} failed calls "
        f"({errors / len(reqs):.1%}). Seed `{seed}`.",
        "",
        "## Files",
        "",
        "| file | what it is | rows | list-price cost (USD) |",
        "|---|---|---:|---:|",
    ]
    for rel, what, _ in WRITERS:
        st = stats[rel]
        extra = f" + {st.unpriced} unpriced rows" if st.unpriced else ""
        lines.append(f"| `{rel}` | {what} | {st.rows:,} | {usd(st.cost)}{extra} |")
    lines += [
        "",
        "The activity file's `Usage` is the per-day, per-slug sum of `cost_total` in the "
        "generations file, so both OpenRouter files total the same. The gateway file includes "
        f"the {len(by_pattern.get('double-logged', []))} docs-bot requests that are also in the "
        "generations file (see *Double-logged requests*), so adding the three per-request files "
        "counts them twice; tokaudit must not.",
        "",
        "Cost is the list price of each request's tokens (public list prices, the period "
        "covering June 2026): uncached input at the input price, cache reads at the cache-read "
        "price, Anthropic cache writes at the 5-minute or 1-hour write price, output (reasoning "
        "included) at the output price. No request crosses a long-context tier.",
        "",
        "## Conventions in each file",
        "",
        "- **OpenRouter generations CSV**: the exact 24-column header of sources.md §1a. "
        "`tokens_prompt` includes `tokens_cached`; `tokens_completion` includes "
        "`tokens_reasoning`; `created_at` is UTC without offset (`2026-06-03 09:12:44.123`); "
        "`generation_id` is `gen-<unix seconds>-<16 chars>`; `cost_total` has up to 10 "
        "decimals; `cost_web_search`, `cost_cache`, `cost_file_processing`, "
        "`byok_usage_inference` are 0. Failed calls have `finish_reason_normalized` = `error`, "
        "an empty `finish_reason_raw` and zero tokens; cancelled calls have `cancelled` = `true` "
        "and empty finish reasons. There are no cache-write tokens in this format.",
        "- **OpenRouter activity CSV**: header "
        '`"Date","Slug","Usage","BYOK Usage","Requests","Prompt Tokens","Completion Tokens",'
        '"Reasoning Tokens"`, every value quoted, `Date` = `YYYY-MM-DD 00:00:00`, `Slug` the '
        "undated slug.",
        "- **Gateway JSONL** (generic-jsonl.md field names): `input_tokens` EXCLUDES cache reads "
        "and writes, `output_tokens` INCLUDES `reasoning_tokens`, `cache_write_tokens` appears "
        "on Anthropic lines that wrote the prompt cache. Timestamps are mostly "
        "`2026-06-03T09:12:44.123Z`; lines from the `eu-central-1` gateway are sometimes local "
        "time with `+02:00`; about 5% are epoch milliseconds (JSON numbers). `cost_usd` is "
        "present for support-bot, rag-search and docs-bot only. `metadata` carries `region`, "
        "`gateway`, and per caller `prefix_hash`, `prompt_version`, `top_k`, `bot_version`, ….",
        "- **Agent responses JSONL**: response-object lines `{timestamp, metadata, response}`. "
        "`response` is a raw OpenAI Chat Completions object (`prompt_tokens` includes "
        "`prompt_tokens_details.cached_tokens`), an OpenAI Responses object "
        '(`"object":"response"`, `input_tokens` includes `input_tokens_details.cached_tokens`)'
        " or an Anthropic Messages object (`input_tokens` excludes `cache_read_input_tokens` and "
        "`cache_creation_input_tokens`; runs by bob and ivan cache the system prompt with the "
        "1-hour TTL and carry `cache_creation.ephemeral_5m_input_tokens` / "
        "`ephemeral_1h_input_tokens`). No message content at all.",
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
        "Each stream is one caller with one key through one channel. `openrouter` rows are in "
        "the generations CSV, `gateway` lines in gateway JSONL, `agent` lines in agent JSONL.",
        "",
        "| stream | channel | key name(s) (gateway key id) | caller | env | project | purposes | "
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
            f"`{k}`" + ("" if s.channel == "agent" else f" (`{KEYS[k].key_id}`)") for k in keys
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
        "(`api_key_disabled` = `true` on its rows).",
        "",
        "## Models and the ids used for them",
        "",
        "| model | vendor | ids in gateway / agent lines | OpenRouter slug (activity) | "
        "OpenRouter permaslug (generations) | list price in / cached / out per 1M |",
        "|---|---|---|---|---|---|",
    ]
    for m in MODELS.values():
        ids = sorted(
            {r.model_id for r in reqs if r.model is m and r.channel == "gateway"}
            | {r.model.snapshot for r in reqs if r.model is m and r.channel == "agent"}
        )
        price = (
            f"{m.price.input} / {m.price.cached} / {m.price.output}"
            if m.price
            else "none (unpriced)"
        )
        lines.append(
            f"| {m.key} | {m.vendor} | {', '.join(f'`{i}`' for i in ids) or '—'} | "
            f"{'`' + m.or_slug + '`' if m.or_slug else '—'} | "
            f"{'`' + m.or_permaslug + '`' if m.or_permaslug else '—'} | {price} |"
        )
    lines += [
        "",
        "## Planted patterns (what the detectors should find)",
        "",
        "Everything outside these is clean: prompt hashes are unique except in regeneration "
        "clusters and retry chains; no other successful call to a premium model "
        "(claude-opus-4-8, gpt-5.5) has a prompt under 2k tokens; no other input exceeds "
        "100k tokens; every other gateway line has a team and project.",
        "",
        f"1. **Overqualification** — {len(by_pattern.get('overqualification', []))} gateway "
        "lines from Dmitri Volkov (`user` `dvolkov`, key `dmitri-ide`, app `Continue`) using "
        "`claude-opus-4-8` and `gpt-5.5` for `autocomplete` and `commit-message` with inputs "
        "under 2k tokens and outputs under 150 tokens (his other autocomplete goes to cheap "
        "models). Days: " + _days(by_pattern.get("overqualification", [])) + ".",
        f"2. **Redundant regeneration** — {len({r.prompt_hash for r in regen})} clusters "
        f"({len(regen)} lines) from Erin Walsh (`ewalsh`, key `erin-ide`, "
        "`claude-sonnet-4-6`): the same `prompt_hash` and `session_id` 2–4 times within a few "
        "minutes; the first answer has `outcome` `rejected`, each repeat `regenerated`. No "
        "other line has `outcome` `regenerated`.",
        f"3. **Context bloat** — {len(by_pattern.get('context-bloat', []))} `rag-search` "
        "lines (key `prod-backend`, `purpose` `rag-answer`, `claude-sonnet-4-6`) with "
        "120k–180k input tokens and ~200 output tokens (`metadata.top_k` 400); the service's "
        "usual input is 4k–6k (`top_k` 8). Days: "
        + _days(by_pattern.get("context-bloat", []))
        + ".",
        f"4. **Stale key** — key `proto-experiment-2025` (`{KEYS['proto-experiment-2025'].key_id}`)"
        f": {len(by_pattern.get('stale-key', []))} gateway lines, 2–5 every day of the month "
        "(at minute 17, a forgotten cron job), all `gpt-4.1`, with no `user`, `team`, "
        "`project`, `environment`, `purpose` or `app`.",
        f"5. **Retry storm** — {len(by_pattern.get('retry-storm', []))} failed `ci-pipeline` "
        "calls (key `ci-runner`, `gpt-5.4-mini`) in bursts of 10–30, a few seconds apart, "
        "same `prompt_hash` and `session_id` per burst, http 429 `rate_limit`, 500 "
        f"`server_error` and 408 `timeout`; {timeouts_with_input} of the timeouts consumed "
        f"input tokens. Bursts: {storm_sizes}. Bursts 1 and 3 end with one successful call.",
        f"6. **Cache miss** — {len(by_pattern.get('cache-miss', []))} `code-review-bot` lines "
        "(key `code-review-bot-ci`, `claude-sonnet-4-6`) on 06-15 .. 06-19 resend the same "
        f"~8k-token system prompt (`metadata.prefix_hash` `{prefix_hash(CODE_REVIEW_PREFIX)}`) "
        "with `cached_input_tokens` 0 and no cache writes (`metadata.bot_version` 2.3.0 "
        "dropped `cache_control`); on other days the same prefix is read from cache.",
        f"7. **Output waste** — {len(by_pattern.get('output-waste', []))} `support-bot` "
        "`summarize` lines (key `support-bot-prod`, `claude-haiku-4-5-20251001`) on 06-09 "
        "12:00–18:00 UTC and 06-23 08:00–13:00 UTC with outputs 5–10x the usual ~260 tokens "
        "(`metadata.prompt_version` `summary-v14`, normally `summary-v13`).",
        "",
        "## Other things the sample exercises",
        "",
        f"- **Unpriced model**: {len(by_pattern.get('unpriced', []))} gateway lines for "
        "`acme/llama-ft-support-v3` (provider `self-hosted`, app `triage-classifier`, key "
        "`triage-canary`, from 06-15); no price table knows it, so the report must list it as "
        "unpriced rather than $0.",
        f"- **Double-logged requests**: the {len(by_pattern.get('double-logged', []))} "
        "`docs-bot` requests (key `docs-bot-prod`) are in the OpenRouter generations CSV and "
        "in the gateway JSONL (provider `openrouter`, `request_id` = `generation_id`, same "
        "timestamp to the millisecond, same tokens, `cost_usd` = `cost_total`). They must "
        "count once.",
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
        "- **Prompt caching**: Anthropic callers write the cache (`cache_write_tokens`) when it "
        "is cold and read it within 5 minutes (1 hour for forge-agent system prompts); "
        "OpenAI, Gemini and DeepSeek cache automatically (OpenAI in 128-token steps).",
        "- **Reasoning**: gpt-5.5, gpt-5.4-mini, gemini-2.5-pro/-flash and deepseek-v4-flash "
        "report reasoning tokens (inside the output count).",
        "- **Errors** outside the storms: 429/500/408/400 on ~1–3% of each stream. "
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
        f"`--requests N` (default {DEFAULT_REQUESTS}) is the number of distinct requests: the "
        "planted patterns keep their size and the ordinary traffic scales. `--seed N` "
        f"(default {DEFAULT_SEED}) gives a different but equally deterministic month. Output "
        "depends only on the arguments and on Python's `random` algorithms (stable across "
        "CPython 3.11+).",
        "",
    ]
    return "\n".join(lines)


# ════════════════════════════════════════════════════════════════════════════════════════
# CLI
# ════════════════════════════════════════════════════════════════════════════════════════

README = "README.md"


def write_all(
    out: Path, seed: int, total: int
) -> tuple[list[str], dict[str, FileStats], list[Request]]:
    reqs = generate_month(seed, total)
    stats: dict[str, FileStats] = {}
    for rel, _, writer in WRITERS:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        stats[rel] = writer(reqs, path)
    (out / README).write_text(readme(reqs, stats, seed), encoding="utf-8", newline="\n")
    return [rel for rel, _, _ in WRITERS] + [README], stats, reqs


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
            files, _, _ = write_all(Path(tmp), args.seed, args.requests)
            stale = [
                f
                for f in files
                if not (args.out / f).is_file()
                or (args.out / f).read_bytes() != (Path(tmp) / f).read_bytes()
            ]
        if stale:
            print(f"stale sample exports in {args.out}: {', '.join(stale)}", file=sys.stderr)
            print("run: python scripts/generate_sample_exports.py", file=sys.stderr)
            return 1
        print(f"sample exports in {args.out} are up to date")
        return 0
    files, stats, reqs = write_all(args.out, args.seed, args.requests)
    print(f"{len(reqs)} distinct requests -> {args.out}")
    for rel in files[:-1]:
        st = stats[rel]
        print(
            f"  {rel}: {st.rows} rows, list price ${usd(st.cost)}"
            + (f", {st.unpriced} unpriced" if st.unpriced else "")
        )
    print(f"  {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
