"""Local twin of the user-data API: randomuser-shaped pages, deterministic per seed.

``GET /api/?results=N&page=P&seed=S`` returns ``{"results": [...], "info": {...}}``.
The same (seed, page, results) always yields the same users, so overlapping pages
from different invocations produce the duplicates Firehose's at-least-once delivery
would, and tests can count exactly what should come out the other end.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from contracts.user_record import API_VERSION, api_url

__all__ = ["ApiOptions", "generate_page", "generate_user", "serve_user_api"]

MAX_RESULTS = 5000  # randomuser's own cap per request

# nationality -> (country, postcode style, cities, offsets, phone pattern)
_NATS: dict[str, tuple[str, str, list[tuple[str, str, float, float]], str]] = {
    "PT": ("Portugal", "dash", [("Braga", "Minho", 41.54, -8.42),
                                ("Évora", "Alentejo", 38.57, -7.9)], "+0:00"),
    "DE": ("Germany", "int", [("Göttingen", "Niedersachsen", 51.54, 9.91),
                              ("München", "Bayern", 48.13, 11.58)], "+1:00"),
    "NZ": ("New Zealand", "int", [("Whanganui", "Manawatu-Wanganui", -39.93, 175.04),
                                  ("Ōtaki", "Wellington", -40.75, 175.14)], "+12:00"),
    "CH": ("Switzerland", "int", [("Lausanne", "Vaud", 46.52, 6.63),
                                  ("Zürich", "Zürich", 47.37, 8.54)], "+1:00"),
    "FR": ("France", "zero", [("Besançon", "Doubs", 47.24, 6.02),
                              ("Ajaccio", "Corse-du-Sud", 41.92, 8.74)], "+1:00"),
    "GB": ("United Kingdom", "alnum", [("Aberdeen", "Scotland", 57.15, -2.09)], "+0:00"),
    "IN": ("India", "int", [("Pune", "Maharashtra", 18.52, 73.86)], "+5:30"),
    "NO": ("Norway", "zero", [("Tromsø", "Troms", 69.65, 18.96)], "+1:00"),
    "BR": ("Brazil", "int", [("São Paulo", "São Paulo", -23.55, -46.63)], "-3:00"),
    "US": ("United States", "int", [("Anchorage", "Alaska", 61.22, -149.9)], "-9:00"),
}
_FIRST = {"female": ["Inês", "Aroha", "Zoë", "Léa", "Ingrid", "Ana", "Mia", "Saanvi", "Chloé"],
          "male": ["Jonas", "Théo", "Søren", "João", "Mateus", "Arjun", "Oliver", "Noé", "Kai"]}
_LAST = ["Ferreira", "Schäfer", "Ngata", "Girard", "Øvergård", "Müller", "Dubois", "Sharma",
         "Conceição", "O'Brien", "Smith", "Núñez"]
_STREETS = ["Rua da Prata", "Lindenstraße", "Great North Road", "Rue de la Mairie",
            "Storgata", "Avenida Paulista", "Main Street", "Chemin des Écoliers"]
_TITLES = {"female": ["Ms", "Mrs", "Miss", "Madame"], "male": ["Mr", "Monsieur"]}


@dataclass(frozen=True)
class ApiOptions:
    """Generation and fault-injection knobs (rates are per record or per request)."""

    malformed_rate: float = 0.0  # records missing login.uuid, bad dates, wrong shapes
    error_rate: float = 0.0  # requests answered 500/502/503
    throttle_rate: float = 0.0  # requests answered 429 with Retry-After
    retry_after_s: float = 0.05
    slow_rate: float = 0.0  # requests delayed by latency_s
    latency_s: float = 0.0
    fault_seed: int = 7

    @classmethod
    def parse(cls, spec: str) -> ApiOptions:
        """``"error=0.3,throttle=0.1,slow=0.05,latency=0.2,malformed=0.02"`` -> options."""
        names = {"error": "error_rate", "throttle": "throttle_rate", "slow": "slow_rate",
                 "latency": "latency_s", "malformed": "malformed_rate",
                 "retry_after": "retry_after_s", "seed": "fault_seed"}
        values: dict[str, Any] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, _, raw = item.partition("=")
            if key not in names or not raw:
                raise ValueError(f"bad fault {item!r}: use {', '.join(sorted(names))} as k=v")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"bad fault {item!r}: value must be a number") from None
            is_rate = key in ("error", "throttle", "slow", "malformed")
            if is_rate and not 0.0 <= value <= 1.0:
                raise ValueError(f"bad fault {item!r}: a rate is between 0 and 1")
            if key in _SECONDS_MAX and not 0.0 <= value <= _SECONDS_MAX[key]:
                raise ValueError(f"bad fault {item!r}: seconds between 0 and "
                                 f"{_SECONDS_MAX[key]:g}")
            if key == "seed" and not (value.is_integer() and 0 <= value < 2**32):
                raise ValueError(f"bad fault {item!r}: a seed is a whole number 0..2**32-1")
            values[names[key]] = int(value) if key == "seed" else value
        return cls(**values)


_SECONDS_MAX = {"latency": 60.0, "retry_after": 60.0}
"""Delays the API twin may be asked for (the ingest client times a request out sooner)."""

_WORDS = struct.Struct(">24I")  # 24 independent 32-bit draws per user
_DIGEST_BYTES = 96 + _WORDS.size  # 77 secret bytes, 16 uuid bytes, 3 spare, the words
_EPOCH = datetime(2026, 11, 1)  # naive UTC: the API's "now"
_NAT_KEYS = sorted(_NATS)
_GENDERS = ("female", "male")
_TLDS = ("com", "org")
_ADJ = ("small", "blue", "crazy", "lazy")
_ANIMALS = ("bird", "cat", "owl", "fox")
_UNIT = 2.0 ** -32
_ASCII = {name: name.encode("ascii", "ignore").decode()
          for names in (*_FIRST.values(), _LAST) for name in names}


def _draws(seed: str, page: int, index: int) -> tuple[bytes, tuple[int, ...]]:
    """Every random choice a user needs, from one SHAKE-256 digest of (seed, page, index):
    the same inputs give the same bytes on every machine and Python version."""
    digest = hashlib.shake_256(f"{seed}|{page}|{index}".encode()).digest(_DIGEST_BYTES)
    return digest, _WORDS.unpack_from(digest, 96)


def _postcode(style: str, w: int) -> int | str:
    if style == "int":
        return 1000 + w % 99000
    if style == "zero":
        return f"0{1000 + w % 9000}"
    if style == "dash":
        return f"{1000 + w % 9000}-{100 + (w // 9000) % 900}"
    return f"AB{1 + w % 9} {1 + (w // 9) % 9}CD"


_EPOCH_MS = _EPOCH.toordinal() * 86_400_000
_DAY_TEXT: dict[int, str] = {}


def _ago(days: int, seconds: int, millis: int) -> str:
    """``_EPOCH`` minus the given span as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the API's form),
    by integer arithmetic: no datetime objects for a value only ever sent as text."""
    day, ms = divmod(_EPOCH_MS - (days * 86_400 + seconds) * 1000 - millis, 86_400_000)
    text = _DAY_TEXT.get(day)
    if text is None:
        text = _DAY_TEXT[day] = date.fromordinal(day).isoformat()
    hh, ms = divmod(ms, 3_600_000)
    mm, ms = divmod(ms, 60_000)
    ss, ms = divmod(ms, 1000)
    return f"{text}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def generate_user(seed: str, page: int, index: int, options: ApiOptions = ApiOptions()) -> dict:
    """One user; identical for identical (seed, page, index).

    All randomness comes from one hash of (seed, page, index), read as fixed words, so a
    user costs one digest and no random-number-generator calls (about 20 us a user
    against ~210 us before; bench/ingest_volume.py).
    """
    digest, w = _draws(seed, page, index)
    gender = _GENDERS[w[0] & 1]
    nat = _NAT_KEYS[w[1] % len(_NAT_KEYS)]
    country, pc_style, cities, offset = _NATS[nat]
    city, state, lat, lon = cities[w[2] % len(cities)]
    firsts = _FIRST[gender]
    first, last = firsts[w[3] % len(firsts)], _LAST[w[4] % len(_LAST)]
    dob_days = 18 * 365 + w[5] % (62 * 365 + 1)
    reg_days = 30 + w[6] % (20 * 365 - 29)
    titles = _TITLES[gender]
    secret = digest[:77].hex()
    u = digest[77:93].hex()
    ascii_first = _ASCII[first] or "user"
    ascii_last = _ASCII[last].replace("'", "") or "x"
    user: dict[str, Any] = {
        "gender": gender,
        "name": {"title": titles[w[7] % len(titles)], "first": first, "last": last},
        "location": {
            "street": {"number": 1 + w[8] % 9999, "name": _STREETS[w[9] % len(_STREETS)]},
            "city": city,
            "state": state,
            "country": country,
            "postcode": _postcode(pc_style, w[10]),
            "coordinates": {"latitude": f"{lat + w[11] * _UNIT - 0.5:.4f}",
                            "longitude": f"{lon + w[12] * _UNIT - 0.5:.4f}"},
            "timezone": {"offset": offset, "description": f"{city} time"},
        },
        "email": f"{ascii_first.lower()}.{ascii_last.lower()}@example.{_TLDS[w[13] & 1]}",
        "login": {
            "uuid": f"{u[:8]}-{u[8:12]}-4{u[13:16]}-{'89ab'[int(u[16], 16) & 3]}{u[17:20]}-"
                    f"{u[20:]}",
            "username": f"{_ADJ[w[14] & 3]}{_ANIMALS[(w[14] >> 2) & 3]}{1 + (w[14] >> 4) % 999}",
            "password": secret[0:10],
            "salt": secret[10:18],
            "md5": secret[18:50],
            "sha1": secret[50:90],
            "sha256": secret[90:154],
        },
        "dob": {"date": _ago(dob_days, w[15] % 86400, w[16] % 1000), "age": dob_days // 365},
        "registered": {"date": _ago(reg_days, w[17] % 86400, w[18] % 1000),
                       "age": reg_days // 365},
        "phone": f"0{10 + w[19] % 90}-555-{1000 + (w[19] >> 8) % 9000}",
        "cell": f"0{10 + w[20] % 90}-555-{1000 + (w[20] >> 8) % 9000}",
        "id": ({"name": "", "value": None} if w[21] * _UNIT < 0.2
               else {"name": nat + "ID", "value": str(10**8 + w[22] % (9 * 10**8 + 1))}),
        "picture": {"large": f"https://example.invalid/large/{index}.jpg",
                    "medium": f"https://example.invalid/medium/{index}.jpg",
                    "thumbnail": f"https://example.invalid/thumbnail/{index}.jpg"},
        "nat": nat,
    }
    if options.malformed_rate and w[23] * _UNIT < options.malformed_rate:
        kind = digest[93] & 3
        if kind == 0:
            del user["login"]["uuid"]
        elif kind == 1:
            user["dob"]["date"] = "2021-02-30T25:61:00.000Z"
        elif kind == 2:
            user["location"] = "somewhere"  # wrong shape
        else:
            user["registered"]["age"] = "twenty"  # a type the contract cannot coerce
    return user


def generate_page(seed: str, page: int, results: int, options: ApiOptions = ApiOptions()) -> dict:
    return {
        "results": [generate_user(seed, page, i, options) for i in range(results)],
        "info": {"seed": seed, "results": results, "page": page, "version": API_VERSION},
    }


def _render_page(seed: str, page: int, results: int, options: ApiOptions) -> bytes:
    return orjson.dumps(generate_page(seed, page, results, options))


class _PagesAhead:
    """Page bodies made one page ahead: once page p of a (seed, size) has been asked
    for, p + 1 is rendered in the background while the client works on p, as a client
    walking pages asks for it next. A body is a pure function of (seed, page, results,
    options), so answering from here is indistinguishable from rendering on request."""

    KEEP = 8  # bodies made ahead and not asked for yet (about 6 MB each at 5,000 users)

    def __init__(self, options: ApiOptions) -> None:
        self.options = options
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="user-api-ahead")
        self.ahead: dict[tuple[str, int, int], Future[bytes]] = {}
        self.lock = threading.Lock()

    def body(self, seed: str, page: int, results: int) -> bytes:
        with self.lock:
            made = self.ahead.pop((seed, page, results), None)
            following = (seed, page + 1, results)
            if following not in self.ahead:
                while len(self.ahead) >= self.KEEP:
                    self.ahead.pop(next(iter(self.ahead))).cancel()
                self.ahead[following] = self.pool.submit(_render_page, *following,
                                                         self.options)
        return made.result() if made else _render_page(seed, page, results, self.options)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Handler(BaseHTTPRequestHandler):
    options: ApiOptions = ApiOptions()
    faults: random.Random = random.Random(0)
    fault_lock = threading.Lock()
    pages: _PagesAhead

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        return

    def _send(self, status: int, body: dict | bytes,
              headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.rstrip("/") not in ("", "/api", f"/api/{API_VERSION}"):
            self._send(404, {"error": f"no such path {url.path}"})
            return
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            results = int(q.get("results", "1"))
            page = int(q.get("page", "1"))
        except ValueError:
            self._send(400, {"error": "results and page must be integers"})
            return
        if not 1 <= results <= MAX_RESULTS or page < 1:
            self._send(400, {"error": f"results must be 1..{MAX_RESULTS}, page >= 1"})
            return
        seed = q.get("seed") or "default"
        opts = self.options
        with self.fault_lock:
            roll, slow = self.faults.random(), self.faults.random()
        if opts.slow_rate and slow < opts.slow_rate:
            threading.Event().wait(opts.latency_s)
        if roll < opts.throttle_rate:
            self._send(429, {"error": "rate limited"},
                       {"Retry-After": f"{opts.retry_after_s:g}"})
            return
        if roll < opts.throttle_rate + opts.error_rate:
            self._send(503, {"error": "upstream unavailable"})
            return
        self._send(200, self.pages.body(seed, page, results))


def _server(options: ApiOptions, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"options": options,
                                            "faults": random.Random(options.fault_seed),
                                            "fault_lock": threading.Lock(),
                                            "pages": _PagesAhead(options)})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def _stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
    server.RequestHandlerClass.pages.close()  # type: ignore[attr-defined]


@contextmanager
def serve_user_api(options: ApiOptions = ApiOptions(), port: int = 0, *,
                   in_process: bool = False) -> Iterator[str]:
    """Run the API on 127.0.0.1; yields its base URL.

    By default the API runs in a child process, as the real API runs elsewhere: making
    users then takes the machine's other core instead of the ingest's interpreter lock,
    so a local day is bound by the Lambda code, not by the simulation
    (bench/ingest_volume.py). Pages, faults and their order are the same either way;
    ``in_process`` serves from a thread of this process instead.
    """
    if in_process:
        server = _server(options, port)
        thread = threading.Thread(target=server.serve_forever, name="user-api", daemon=True)
        thread.start()
        try:
            yield api_url(f"http://127.0.0.1:{server.server_address[1]}/api/")
        finally:
            _stop(server)
        return
    root = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-m", __name__, json.dumps(asdict(options)), str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root, text=True)
    try:
        assert child.stdin is not None and child.stdout is not None
        line = child.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"user API twin did not start (exit code {child.wait()})")
        yield api_url(f"http://127.0.0.1:{line}/api/")
    finally:
        if child.stdin:
            child.stdin.close()  # the child serves until its stdin closes
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _serve_until_stdin_closes(argv: list[str]) -> None:
    """Child-process side of ``serve_user_api``: print the port, serve until stdin ends
    (the parent closed it, or died)."""
    server = _server(ApiOptions(**json.loads(argv[0])), int(argv[1]))
    threading.Thread(target=server.serve_forever, name="user-api", daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    _stop(server)


if __name__ == "__main__":
    _serve_until_stdin_closes(sys.argv[1:])
