"""Installs kappa: the code folders become subpackages of the one import package `kappa`.

The top-level folders keep the names a reader expects (`io/`, `pipelines/`, ...), but are installed as
`kappa.io`, `kappa.pipelines`, ... so that a folder called `io` never shadows the standard library.
This same file is what Beam ships to remote workers with `--setup_file`.
"""
from setuptools import setup

ROOMS = ("io", "transforms", "pipelines", "runners", "services", "schemas", "benchmarks")

# Every dependency, pinned exactly, in this one place.
BEAM = "apache-beam[gcp]==2.62.0"
INSTALL_REQUIRES = [
    BEAM,
    "fastavro==1.13.1",
    "google-cloud-pubsub==2.39.0",
    "confluent-kafka==2.16.1",
    "psycopg[binary]==3.3.9",
    "redis==5.3.1",  # apache-beam 2.62 requires redis>=5,<6
]
TEST_REQUIRES = ["pytest==9.2.0"]

setup(
    name="kappa",
    version="0.1.0",
    description="One set of Apache Beam pipelines for streaming, replay and backfill of event streams.",
    python_requires=">=3.11,<3.12",
    packages=[f"kappa.{room}" for room in ROOMS],
    package_dir={f"kappa.{room}": room for room in ROOMS},
    package_data={"kappa.schemas": ["*/*.avsc", "*/rules.json"], "kappa.services": ["flink-loopback/config.yaml"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={"console_scripts": ["kappa = kappa.runners.console:main"]},
)
