"""The Java that runs local Spark: found on the machine, checked before Spark starts.

Spark 4.1 (Glue 6.0's Spark) needs Java 17 or newer, and its launcher always passes
``--add-modules=jdk.incubator.vector``: a JDK or JRE without that module (some trimmed
runtimes) fails at start with ``FindException``. So a candidate is accepted only when
``java --list-modules`` shows the module and ``java -version`` says 17 or newer.

Candidates, in order: ``$JAVA_HOME/bin/java``, then ``java`` on ``PATH`` (its real path,
so ``/usr/bin/java`` -> ``/usr/lib/jvm/...``). ``make`` installs Debian's
``openjdk-17-jre-headless`` when neither works; :class:`JavaMissing` names it for anyone
running ``udp`` outside the Makefile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIN_JAVA",
    "REQUIRED_MODULE",
    "JavaMissing",
    "JavaRuntime",
    "find_java",
    "parse_java_version",
    "use_java",
]

MIN_JAVA = 17
REQUIRED_MODULE = "jdk.incubator.vector"
INSTALL_HINT = ("install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless` "
                "(Debian/Ubuntu), or set JAVA_HOME to one")


class JavaMissing(RuntimeError):
    """No usable Java: the message is one line saying what was found and what to install."""


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    version: int


def parse_java_version(text: str) -> int | None:
    """The feature version in ``java -version``'s banner: ``"17.0.15"`` -> 17,
    ``"1.8.0_392"`` -> 8, ``"21"`` -> 21; ``None`` when there is none."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _probe(java: Path) -> tuple[int | None, bool]:
    """(feature version, has the vector module) of one ``java`` binary."""
    try:
        banner = subprocess.run([str(java), "-version"], capture_output=True, text=True,
                                timeout=30, check=False).stderr
        modules = subprocess.run([str(java), "--list-modules"], capture_output=True,
                                 text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    has_module = any(line.split("@", 1)[0].strip() == REQUIRED_MODULE
                     for line in modules.splitlines())
    return parse_java_version(banner), has_module


def _candidates() -> list[Path]:
    found: list[Path] = []
    home = os.environ.get("JAVA_HOME")
    if home:
        found.append(Path(home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path).resolve())
    return found


def find_java() -> JavaRuntime:
    """The first candidate Java that can run Spark 4.1, or :class:`JavaMissing`."""
    rejected: list[str] = []
    for java in _candidates():
        if not java.is_file():
            rejected.append(f"{java} does not exist")
            continue
        version, has_module = _probe(java)
        if version is None:
            rejected.append(f"{java} did not report a version")
        elif version < MIN_JAVA:
            rejected.append(f"{java} is Java {version}")
        elif not has_module:
            rejected.append(f"{java} (Java {version}) lacks the {REQUIRED_MODULE} module")
        else:
            return JavaRuntime(home=java.parent.parent, version=version)
    seen = "; ".join(rejected) if rejected else "no java on PATH and JAVA_HOME unset"
    raise JavaMissing(f"local Spark needs Java {MIN_JAVA}+ with {REQUIRED_MODULE} "
                      f"({seen}): {INSTALL_HINT}")


_CHOSEN: JavaRuntime | None = None


def use_java() -> JavaRuntime:
    """Find the Java once per process and point ``JAVA_HOME`` at it for PySpark."""
    global _CHOSEN
    if _CHOSEN is None:
        _CHOSEN = find_java()
        os.environ["JAVA_HOME"] = str(_CHOSEN.home)
    return _CHOSEN


def main() -> int:
    """``python -m local_aws.glue.java``: print the Java found, or why none (exit 1)."""
    try:
        runtime = find_java()
    except JavaMissing as exc:
        print(f"error: {exc}")
        return 1
    print(f"java {runtime.version} at {runtime.home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
