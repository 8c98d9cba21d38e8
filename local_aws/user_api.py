"""Local twin of the user-data API: randomuser-shaped pages, deterministic per seed.

``GET /api/?results=N&page=P&seed=S`` returns ``{"results": [...], "info": {...}}``.
The same (seed, page, results) always yields the same users, so overlapping pages
from different invocations produce the duplicates Firehose's at-least-once delivery
would, and tests can count exactly what should come out the other end.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

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
            values[names[key]] = int(value) if key == "seed" else value
        return cls(**values)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _postcode(rng: random.Random, style: str) -> int | str:
    if style == "int":
        return rng.randint(1000, 99999)
    if style == "zero":
        return f"0{rng.randint(1000, 9999)}"
    if style == "dash":
        return f"{rng.randint(1000, 9999)}-{rng.randint(100, 999)}"
    return f"AB{rng.randint(1, 9)} {rng.randint(1, 9)}CD"


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _secret(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def generate_user(seed: str, page: int, index: int, options: ApiOptions = ApiOptions()) -> dict:
    """One user; identical for identical (seed, page, index)."""
    rng = _rng(seed, page, index)
    gender = rng.choice(["female", "male"])
    nat = rng.choice(sorted(_NATS))
    country, pc_style, cities, offset = _NATS[nat]
    city, state, lat, lon = rng.choice(cities)
    first, last = rng.choice(_FIRST[gender]), rng.choice(_LAST)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    dob = now - timedelta(days=rng.randint(18 * 365, 80 * 365), seconds=rng.randint(0, 86399),
                          milliseconds=rng.randint(0, 999))
    reg = now - timedelta(days=rng.randint(30, 20 * 365), seconds=rng.randint(0, 86399),
                          milliseconds=rng.randint(0, 999))
    ascii_first = first.encode("ascii", "ignore").decode() or "user"
    ascii_last = last.encode("ascii", "ignore").decode().replace("'", "") or "x"
    user: dict[str, Any] = {
        "gender": gender,
        "name": {"title": rng.choice(_TITLES[gender]), "first": first, "last": last},
        "location": {
            "street": {"number": rng.randint(1, 9999), "name": rng.choice(_STREETS)},
            "city": city,
            "state": state,
            "country": country,
            "postcode": _postcode(rng, pc_style),
            "coordinates": {"latitude": f"{lat + rng.uniform(-0.5, 0.5):.4f}",
                            "longitude": f"{lon + rng.uniform(-0.5, 0.5):.4f}"},
            "timezone": {"offset": offset, "description": f"{city} time"},
        },
        "email": f"{ascii_first.lower()}.{ascii_last.lower()}@example.{rng.choice(['com', 'org'])}",
        "login": {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "username": f"{rng.choice(['small', 'blue', 'crazy', 'lazy'])}"
                        f"{rng.choice(['bird', 'cat', 'owl', 'fox'])}{rng.randint(1, 999)}",
            "password": _secret(rng, 10),
            "salt": _secret(rng, 8),
            "md5": _secret(rng, 32),
            "sha1": _secret(rng, 40),
            "sha256": _secret(rng, 64),
        },
        "dob": {"date": _iso(dob), "age": (now - dob).days // 365},
        "registered": {"date": _iso(reg), "age": (now - reg).days // 365},
        "phone": f"0{rng.randint(10, 99)}-555-{rng.randint(1000, 9999)}",
        "cell": f"0{rng.randint(10, 99)}-555-{rng.randint(1000, 9999)}",
        "id": ({"name": "", "value": None} if rng.random() < 0.2
               else {"name": nat + "ID", "value": str(rng.randint(10**8, 10**9))}),
        "picture": {s: f"https://example.invalid/{s}/{index}.jpg"
                    for s in ("large", "medium", "thumbnail")},
        "nat": nat,
    }
    if options.malformed_rate and rng.random() < options.malformed_rate:
        kind = rng.randrange(4)
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
        "info": {"seed": seed, "results": results, "page": page, "version": "1.4"},
    }


class _Handler(BaseHTTPRequestHandler):
    options: ApiOptions = ApiOptions()
    faults: random.Random = random.Random(0)
    fault_lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        return

    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.rstrip("/") not in ("", "/api"):
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
        self._send(200, generate_page(seed, page, results, opts))


@contextmanager
def serve_user_api(options: ApiOptions = ApiOptions(), port: int = 0) -> Iterator[str]:
    """Run the API on 127.0.0.1 in a background thread; yields its base URL."""
    handler = type("Handler", (_Handler,), {"options": options,
                                            "faults": random.Random(options.fault_seed),
                                            "fault_lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="user-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()
