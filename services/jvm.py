"""Launching Java parts on the machine's JDK (17).

Maven Central serves no ready-made job-server jar for Beam 2.62, so `make deps` copies the job server's
runtime classpath and writes a launcher jar whose manifest names it, the same shape Beam's own
`JavaJarServer.make_classpath_jar` builds. `java -jar launcher.jar` then behaves as the published jar
would, so Beam's `--flink_job_server_jar` takes it. The manifest also opens the JDK packages Flink's
serializers reflect into, which Java 17 closes by default (FLINK-33161); Flink's own config.yaml passes
the same list on the command line.
"""
import argparse
import os
import sys
import zipfile
from pathlib import Path
from typing import Iterable, List, Sequence

# For a Java service started with `-Dlog4j2.configurationFile`: every logger at INFO on the console,
# which the service's log file captures (without one, log4j2 shows errors only).
LOG4J2_TO_CONSOLE = """\
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %c{1} %m%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
"""

# The packages Flink 1.19's config.yaml opens with env.java.opts.all.
JAVA_17_OPENS = (
    "java.base/java.lang", "java.base/java.net", "java.base/java.io", "java.base/java.nio",
    "java.base/sun.nio.ch", "java.base/java.lang.reflect", "java.base/java.text", "java.base/java.time",
    "java.base/java.util", "java.base/java.util.concurrent", "java.base/java.util.concurrent.atomic",
    "java.base/java.util.concurrent.locks",
)


def _attribute(name: str, values: Iterable[str]) -> List[str]:
    """A manifest attribute, one value per continuation line (manifest lines stay short)."""
    values = list(values)
    return [f"{name}: {values[0]}"] + [f"  {value}" for value in values[1:]]


def write_launcher_jar(lib_dir: Path, main_class: str, out: Path, before: Sequence[Path] = ()) -> Path:
    """`before`: jars whose classes take precedence over the classpath's (a patched class)."""
    jars = sorted(lib_dir.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no jars in {lib_dir}")
    lines = ["Manifest-Version: 1.0", f"Main-Class: {main_class}"]
    lines += _attribute("Add-Opens", JAVA_17_OPENS)
    lines += _attribute("Class-Path", (_relative(jar, out.parent) for jar in [*before, *jars]))
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "\n".join(lines) + "\n")
    tmp.replace(out)
    return out


def _relative(jar: Path, folder: Path) -> str:
    return Path(os.path.relpath(jar, folder)).as_posix()


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="write a launcher jar for a copied classpath")
    parser.add_argument("--lib", required=True, type=Path)
    parser.add_argument("--main-class", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--before", type=Path, action="append", default=[], metavar="JAR",
                        help="a jar listed before the classpath's (repeatable)")
    args = parser.parse_args(argv)
    write_launcher_jar(args.lib, args.main_class, args.out, args.before)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
