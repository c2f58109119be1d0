"""Real Log4j writers (Debian's jars, the small Java programs beside this file), for the tests and the
benchmarks alike: compile them once, run them, write a Log4j 2 RollingFile config."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

JAVA_SRC = Path(__file__).resolve().parent
LOG4J1_JAR = "/usr/share/java/log4j-1.2.jar"
LOG4J2_JARS = ["/usr/share/java/log4j-api.jar", "/usr/share/java/log4j-core.jar"]
JARS = [LOG4J1_JAR, *LOG4J2_JARS]

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <RollingFile name="r" fileName="{dir}/app.log" filePattern="{dir}/{pattern}">
      <PatternLayout pattern="%m%n"/>
      <Policies><SizeBasedTriggeringPolicy size="{size}"/></Policies>
      <DefaultRolloverStrategy {strategy}/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="audit" level="info" additivity="false"><AppenderRef ref="r"/></Logger>
    <Root level="error"/>
  </Loggers>
</Configuration>
"""


def compile_writers(out: Path) -> Path:
    """Both writers' classes in `out` (kept if already there), copied from _compiled()."""
    for jar in JARS:
        assert os.path.exists(jar), f"{jar} missing: run scripts/install-test-deps.sh"
    if not all((out / f"{name}.class").exists() for name in ("Log4j1Writer", "Log4j2Writer")):
        out.mkdir(parents=True, exist_ok=True)
        for compiled in _compiled().glob("*.class"):
            shutil.copyfile(compiled, out / compiled.name)
    return out


def _compiled() -> Path:
    """The writers javac'd once for every worker and test of a run (and the runs after it): a folder of the temp
    dir named by what the classes are made of (the sources, the jars, the javac). Each caller compiled its own
    before, ~20 times in `make test`, each ~1.5 s of CPU and up to 10 s at the suite's load."""
    javac = os.path.realpath(shutil.which("javac") or "javac")
    made_of = hashlib.sha256(javac.encode())
    for src in sorted(JAVA_SRC.glob("*.java")):
        made_of.update(src.name.encode() + b"\0" + src.read_bytes())
    for jar in JARS:
        st = os.stat(jar)
        made_of.update(f"{jar} {st.st_size} {st.st_mtime_ns}".encode())
    cache = Path(tempfile.gettempdir()) / f"shipper-test-log4j-writers-{made_of.hexdigest()[:16]}"
    if not cache.is_dir():
        work = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=cache.parent))
        subprocess.run(["javac", "-d", str(work), "-cp", ":".join(JARS), *map(str, JAVA_SRC.glob("*.java"))],
                       check=True, timeout=180)
        try:
            os.rename(work, cache)  # whole or not at all
        except OSError:  # another worker's is there first
            shutil.rmtree(work, ignore_errors=True)
    return cache


def log4j2_config(path: Path, folder: Path, pattern: str = "app.log.%i", size: int = 4000,
                  strategy: str = 'max="20"') -> Path:
    """A RollingFile config writing `folder`/app.log, rolled to `pattern` past `size` bytes."""
    path.write_text(LOG4J2_XML.replace("{dir}", str(folder)).replace("{pattern}", pattern)
                    .replace("{size}", str(size)).replace("{strategy}", strategy))
    return path


class Log4j:
    """Runs the compiled writers: sequence numbers first … first+count-1, one JSON line each."""

    def __init__(self, classes: Path):
        self.classes = classes

    def log4j1(self, path, max_size: int, backups: int, first: int, count: int, rate: float = 0, pad="x",
               wait=True, timeout: float = 120):
        cmd = ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", f"{self.classes}:{LOG4J1_JAR}",
               "Log4j1Writer", str(path), str(max_size), str(backups), str(first), str(count), str(rate), pad]
        return self._run(cmd, wait, timeout)

    def log4j2(self, config_xml: Path, first: int, count: int, rate: float = 0, pad="x", wait=True,
               timeout: float = 120):
        cmd = ["java", "-XX:TieredStopAtLevel=1", f"-Dlog4j2.configurationFile={config_xml}",
               "-cp", ":".join([str(self.classes), *LOG4J2_JARS]), "Log4j2Writer", str(first), str(count), str(rate), pad]
        return self._run(cmd, wait, timeout)

    @staticmethod
    def _run(cmd, wait, timeout):
        if wait:
            subprocess.run(cmd, check=True, timeout=timeout)
            return None
        return subprocess.Popen(cmd)
