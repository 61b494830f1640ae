#!/usr/bin/env python3
"""Checks the deployment artefacts against the programs they run (called by scripts/lint.sh).

No container engine runs on the build machines, so nothing here starts a container. Instead every
statement a manifest makes about the programs is checked against the programs themselves:

- images: every sonar container uses `sonar:<project version>` and runs a program the Dockerfile
  builds into the image; PostgreSQL is major version 15;
- flags and settings: every flag in a container's command/args, every key of a --config file
  from a ConfigMap, and every SONAR_* environment variable is one that `<program> --help` lists
  (or one the image's entrypoint reads), except for the explicit allow-list of planned ones below;
- ports: container ports, probe ports, Service target ports, published compose ports and
  healthcheck addresses agree with the ports the programs are told to listen on (--listen and
  --health-listen, from args, --config file, environment, the image's ENV, or --help defaults);
  native gRPC probes use the plaintext health port whenever the main port speaks TLS; probe
  service names are ones the program reports;
- shutdown: the grace period covers the preStop pause plus --drain-grace-ms plus the server's
  2 s shutdown; connection rotation (--max-connection-age-ms) is on for ingest in Kubernetes;
- structure: compose services, images, commands, healthchecks, dependencies, secrets and
  volumes; Kubernetes references between Deployments, Services, PodDisruptionBudgets,
  ConfigMaps, Secrets and volumes; resource requests/limits on every container;
- docs/operations.md documents every flag and environment variable of both servers and every
  log event the code writes.

Usage: check_manifests.py REPO_ROOT BIN_DIR
Exit 0 when everything holds; 1 with one line per problem otherwise.
"""

from __future__ import annotations

import configparser
import pathlib
import re
import subprocess
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - reported by lint.sh before we get here
    sys.exit("check_manifests.py: python3 yaml module missing (apt-get install python3-yaml)")

# Planned flags and environment variables: accepted although `--help` does not list them (yet).
# Each entry names its issue; remove it when the binary lists it (the check then says so).
PLANNED: dict = {
    # Flags the manifests may use before the binaries have them, per program, each with the
    # issue that adds it. Empty: everything the manifests use exists.
}

# Environment read by the image itself (deploy/docker-entrypoint.sh and the HEALTHCHECK), not by
# the programs.
IMAGE_ENV = {
    "SONAR_DATABASE_PASSWORD_FILE",
    "SONAR_RUNTIME_DIR",
    "SONAR_HEALTH_ADDR",
    "SONAR_HEALTH_SERVICE",
}

SERVERS = ("sonar-ingest", "sonar-query")
SERVER_SHUTDOWN_MS = 2000  # server->Shutdown deadline in service/server_runner.cc

problems: list[str] = []
notes: list[str] = []


def problem(where: str, message: str) -> None:
    problems.append(f"{where}: {message}")


# ----------------------------------------------------------------------------------------------
# What the programs say about themselves


class Help:
    """Options of one program (or sonarctl subcommand), from its --help output."""

    def __init__(self, text: str):
        self.flags: dict[str, bool] = {}  # --flag -> takes a value
        self.env: dict[str, str] = {}  # ENV -> --flag
        self.defaults: dict[str, str] = {}  # --flag -> default shown by --help
        for line in text.splitlines():
            m = re.match(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)(.*)$", line)
            if not m:
                continue
            flag, rest = m.group(1), m.group(2)
            typed = re.match(r"^ ([A-Z]+)(?::[^ ]*)?(?:=(\S+))?(?:\s|$)", rest)
            self.flags[flag] = bool(typed) or flag == "--config"
            if typed and typed.group(2) is not None:
                self.defaults[flag] = typed.group(2)
            d = re.search(r"\][=](\S+)", rest)  # INT:INT in [1 - 64]=2
            if d:
                self.defaults[flag] = d.group(1)
            e = re.search(r"\(Env:([A-Z0-9_]+)\)", rest)
            if e:
                self.env[e.group(1)] = flag


def run_help(binary: pathlib.Path, *sub: str) -> Help:
    try:
        out = subprocess.run([str(binary), *sub, "--help"], capture_output=True, text=True,
                             timeout=20, check=False)
    except OSError as e:
        sys.exit(f"check_manifests.py: cannot run {binary}: {e}")
    if out.returncode != 0 or "Options:" not in out.stdout:
        sys.exit(f"check_manifests.py: {binary} {' '.join(sub)} --help failed")
    return Help(out.stdout)


def parse_args(tokens: list[str], helps: Help) -> tuple[dict[str, str | None], list[str], list[str]]:
    """Splits `--flag=v`, `--flag v` and `--flag`; returns (flags, unknown flags, rest)."""
    flags: dict[str, str | None] = {}
    unknown: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        tok = str(tokens[i])
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            if name not in helps.flags:
                unknown.append(name)
            if eq:
                flags[name] = value
            elif helps.flags.get(name) and i + 1 < len(tokens):
                flags[name] = str(tokens[i + 1])
                i += 1
            else:
                flags[name] = None
        elif tok.startswith("-"):
            unknown.append(tok)
        else:
            rest = [str(t) for t in tokens[i:]]
            break
        i += 1
    return flags, unknown, rest


def port_of(addr: str | None) -> int | None:
    if not addr:
        return None
    m = re.search(r":(\d+)$", addr)
    return int(m.group(1)) if m else None


def read_ini(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(comment_prefixes=("#", ";"), inline_comment_prefixes=None,
                                       interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keep case
    parser.read_string("[__top__]\n" + text)
    values: dict[str, str] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            values[key if section == "__top__" else f"{section}.{key}"] = value.strip().strip('"')
    return values


class Container:
    """One container of a manifest running one of our programs, with its settings resolved."""

    def __init__(self, where: str, program: str, helps: Help, flags: dict[str, str | None],
                 env: dict[str, str | None], ini: dict[str, str], image_env: dict[str, str]):
        self.where, self.program, self.helps = where, program, helps
        self.flags, self.env, self.ini, self.image_env = flags, env, ini, image_env

    def setting(self, flag: str) -> str | None:
        """The value a flag ends up with: command line, then --config file, then environment
        (CLI11's precedence), then the image's ENV, then the --help default."""
        if flag in self.flags:
            return self.flags[flag]
        if flag.lstrip("-") in self.ini:
            return self.ini[flag.lstrip("-")]
        env_names = [e for e, f in self.helps.env.items() if f == flag]
        for name in env_names:
            if self.env.get(name) is not None:
                return self.env[name]
        for name in env_names:
            if name in self.image_env:
                return self.image_env[name]
        return self.helps.defaults.get(flag)

    def main_port(self) -> int | None:
        return port_of(self.setting("--listen"))

    def health_port(self) -> int | None:
        """The port probes should use: the health-only port if set, else the main one."""
        return port_of(self.setting("--health-listen")) or self.main_port()

    def tls(self) -> bool:
        return bool(self.setting("--tls-cert"))


def check_program_settings(where: str, program: str, helps: Help, flags: dict[str, str | None],
                           unknown: list[str], env_names: list[str], ini_keys: list[str]) -> None:
    planned = PLANNED.get(program, set())
    for flag in unknown:
        if flag in planned:
            notes.append(f"{where}: {flag} is planned, not yet in `{program} --help`")
        else:
            problem(where, f"{flag} is not an option of {program} (see `{program} --help`)")
    for key in ini_keys:
        flag = "--" + key
        if flag in helps.flags:
            continue
        if flag in planned:
            notes.append(f"{where}: config key {key} is planned, not yet in `{program} --help`")
        else:
            problem(where, f"config key '{key}' is not an option of {program}; CLI11 would "
                           "ignore it silently")
    for name in env_names:
        if not name.startswith("SONAR_") or name in IMAGE_ENV or name in helps.env:
            continue
        if name in planned:
            notes.append(f"{where}: env {name} is planned, not yet in `{program} --help`")
        else:
            problem(where, f"env {name} is read neither by {program} nor by the image")
    if "--database-url" not in flags and "SONAR_DATABASE_URL" not in env_names:
        problem(where, f"{program} needs --database-url or SONAR_DATABASE_URL")


# ----------------------------------------------------------------------------------------------
# The image


class Image:
    def __init__(self, repo: pathlib.Path):
        path = repo / "deploy/Dockerfile"
        self.text = path.read_text()
        self.where = "deploy/Dockerfile"
        m = re.search(r"--target\s+([a-z0-9 _-]+?)\s*\\?\n", self.text)
        self.programs = set(m.group(1).split()) if m else set()
        if not {"sonar-ingest", "sonar-query", "sonarctl"} <= self.programs:
            problem(self.where, "the build must produce sonar-ingest, sonar-query and sonarctl")
        self.env: dict[str, str] = {}
        for block in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", self.text, re.M):
            for k, v in re.findall(r"([A-Z_][A-Z0-9_]*)=(\"[^\"]*\"|\S*)", block):
                self.env[k] = v.strip('"')
        for required in ("STOPSIGNAL SIGTERM", "HEALTHCHECK", "USER 10001"):
            if required not in self.text:
                problem(self.where, f"missing {required}")
        froms = re.findall(r"^ARG (\w+_IMAGE)=(\S+)", self.text, re.M)
        images = dict(froms)
        if images.get("RUNTIME_IMAGE") != "debian:bookworm-slim":
            problem(self.where, "runtime stage must be debian:bookworm-slim")
        if not images.get("BUILD_IMAGE", "").startswith("debian:bookworm"):
            problem(self.where, "build stage must be Debian 12 (bookworm)")


def check_image_env(image: Image, helps: dict[str, Help]) -> None:
    known = set(IMAGE_ENV)
    for h in helps.values():
        known |= set(h.env)
    for name in image.env:
        if name.startswith("SONAR_") and name not in known:
            problem(image.where, f"ENV {name} is read by no program")
    # The HEALTHCHECK's default address is the default program's (sonar-ingest) listen port.
    if port_of(image.env.get("SONAR_HEALTH_ADDR")) != port_of(image.env.get("SONAR_INGEST_LISTEN")):
        problem(image.where, "SONAR_HEALTH_ADDR must point at SONAR_INGEST_LISTEN's port")


def check_build_packages(repo: pathlib.Path, image: Image) -> None:
    """The build stage installs a subset of scripts/install-deps.sh's packages, and every -dev
    package the build needs (all of install-deps.sh's but the test ones)."""
    deps_text = (repo / "scripts/install-deps.sh").read_text()
    m = re.search(r"PACKAGES=\((.*?)\n\)", deps_text, re.S)
    if not m:
        problem("scripts/install-deps.sh", "no PACKAGES=( ... ) list found")
        return
    deps = {line.split("#")[0].strip() for line in m.group(1).splitlines()} - {""}
    m = re.search(r"FROM \$\{BUILD_IMAGE\} AS build\n(.*?)\n\s*&& rm -rf", image.text, re.S)
    build = set(re.findall(r"\b([a-z0-9][a-z0-9+.-]+)\b", m.group(1).split("--no-install-recommends")[-1])) if m else set()
    if not build:
        problem(image.where, "cannot find the build stage's apt-get install list")
        return
    for pkg in sorted(build - deps):
        problem(image.where, f"build package {pkg} is not in scripts/install-deps.sh")
    test_only = {"libgtest-dev", "libgmock-dev", "postgresql-15", "postgresql-client-15", "python3",
                 "git"}
    for pkg in sorted(deps - build - test_only):
        problem(image.where, f"scripts/install-deps.sh installs {pkg}; the build stage does not")


# ----------------------------------------------------------------------------------------------
# Compose


COMPOSE_SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "secrets", "volumes", "ports",
    "depends_on", "healthcheck", "stop_signal", "stop_grace_period", "read_only", "tmpfs",
    "restart", "user", "deploy", "labels", "networks", "expose", "init", "cap_drop",
    "security_opt", "ulimits", "logging", "shm_size", "working_dir", "profiles",
}


def duration_ms(text: str) -> int:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(number) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit]
    return int(total)


def check_sonarctl(where: str, tokens: list[str], target: Container | None,
                   ctl: Help, ctl_health: Help, health_names: dict[str, set[str]]) -> None:
    flags, unknown, rest = parse_args(tokens[1:], ctl)
    for flag in unknown:
        problem(where, f"{flag} is not an option of sonarctl")
    if not rest or rest[0] != "health":
        problem(where, "a healthcheck runs `sonarctl ... health`")
        return
    sub, sub_unknown, _ = parse_args(rest[1:], ctl_health)
    for flag in sub_unknown:
        problem(where, f"{flag} is not an option of `sonarctl health`")
    if target is None:
        return
    if port_of(flags.get("--addr")) != target.health_port():
        problem(where, f"sonarctl --addr {flags.get('--addr')} is not {target.program}'s health "
                       f"port {target.health_port()}")
    if "--tls-ca" not in flags and target.tls() and not target.setting("--health-listen"):
        problem(where, "health over plaintext needs --health-listen when the server uses TLS")
    service = sub.get("--service") or ""
    if service not in health_names[target.program]:
        problem(where, f"health service '{service}' is not reported by {target.program}")


def check_compose(repo: pathlib.Path, image: Image, version: str, helps: dict[str, Help],
                  health_names: dict[str, set[str]]) -> None:
    rel = "deploy/compose/compose.yaml"
    doc = yaml.safe_load((repo / rel).read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        problem(rel, "no services")
        return
    services = doc["services"]
    declared_secrets = set((doc.get("secrets") or {}).keys())
    declared_volumes = set((doc.get("volumes") or {}).keys())
    for name in ("postgres", "migrate", "ingest", "query"):
        if name not in services:
            problem(rel, f"service '{name}' missing")
    for name, svc in services.items():
        where = f"{rel}: {name}"
        if not isinstance(svc, dict):
            problem(where, "not a mapping")
            continue
        for key in svc:
            if key not in COMPOSE_SERVICE_KEYS:
                problem(where, f"unknown key '{key}'")
        img = str(svc.get("image", ""))
        if not img:
            problem(where, "no image")
        for secret in svc.get("secrets") or []:
            secret_name = secret if isinstance(secret, str) else secret.get("source")
            if secret_name not in declared_secrets:
                problem(where, f"secret '{secret_name}' is not declared")
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")) and source not in declared_volumes:
                problem(where, f"volume '{source}' is not declared")
        deps = svc.get("depends_on") or {}
        for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                problem(where, f"depends on unknown service '{dep}'")
            c = (cond or {}).get("condition", "service_started")
            if c not in ("service_started", "service_healthy", "service_completed_successfully"):
                problem(where, f"unknown depends_on condition '{c}'")
            if c == "service_healthy" and not (services.get(dep) or {}).get("healthcheck"):
                problem(where, f"waits for '{dep}' to be healthy, which has no healthcheck")
        hc = svc.get("healthcheck")
        if hc is not None and not hc.get("disable"):
            test = hc.get("test")
            if not isinstance(test, list) or test[0] not in ("CMD", "CMD-SHELL"):
                problem(where, "healthcheck.test must be a list starting with CMD or CMD-SHELL")
        if img.startswith("postgres"):
            if not re.match(r"postgres:15(\b|[.-])", img):
                problem(where, f"image {img}: the project needs PostgreSQL 15")
            continue
        if not re.fullmatch(r"\$\{SONAR_IMAGE:-sonar:" + re.escape(version) + r"\}|sonar:"
                            + re.escape(version), img):
            problem(where, f"image {img} is not sonar:{version} (project version)")
        if (svc.get("build") or {}).get("dockerfile") != "deploy/Dockerfile":
            problem(where, "build.dockerfile must be deploy/Dockerfile")
        if "entrypoint" in svc:
            problem(where, "overriding the entrypoint skips the password-file handling")
        command = svc.get("command")
        if not isinstance(command, list) or not command:
            problem(where, "command must be a list naming the program")
            continue
        program = str(command[0])
        if program not in image.programs or program not in helps:
            problem(where, f"'{program}' is not a server built into the image")
            continue
        flags, unknown, rest = parse_args(command[1:], helps[program])
        if rest:
            problem(where, f"unexpected arguments {rest}")
        env = {str(k): (None if v is None else str(v))
               for k, v in (svc.get("environment") or {}).items()}
        check_program_settings(where, program, helps[program], flags, unknown, list(env), [])
        c = Container(where, program, helps[program], flags, env, {}, image.env)
        if "--migrate-only" in flags:
            if svc.get("restart") not in ("no", None):
                problem(where, "the migration step must not restart")
            continue
        mig = [n for n, s in services.items() if "--migrate-only" in (s.get("command") or [])]
        if mig and ((svc.get("depends_on") or {}).get(mig[0]) or {}).get("condition") \
                != "service_completed_successfully":
            problem(where, f"must wait for '{mig[0]}' to complete successfully")
        published = {port_of(p) for p in svc.get("ports") or []}
        if c.main_port() not in published:
            problem(where, f"publishes {sorted(p for p in published if p)}, but {program} listens "
                           f"on {c.main_port()}")
        if not hc or hc.get("disable"):
            problem(where, "a server needs a healthcheck")
        else:
            check_sonarctl(f"{where}: healthcheck", [str(t) for t in hc["test"][1:]], c,
                           helps["sonarctl"], helps["sonarctl health"], health_names)
        if port_of(env.get("SONAR_HEALTH_ADDR") or image.env.get("SONAR_HEALTH_ADDR")) \
                != c.health_port():
            problem(where, "SONAR_HEALTH_ADDR (the image's HEALTHCHECK) is not the health port")
        if (env.get("SONAR_HEALTH_SERVICE") or "") not in health_names[program]:
            problem(where, "SONAR_HEALTH_SERVICE is not a health service of " + program)
        drain = int(c.setting("--drain-grace-ms") or 0)
        grace = duration_ms(svc.get("stop_grace_period", "10s"))
        if grace < drain + SERVER_SHUTDOWN_MS:
            problem(where, f"stop_grace_period {grace} ms < drain-grace-ms {drain} + "
                           f"{SERVER_SHUTDOWN_MS} ms shutdown")
        if svc.get("stop_signal", "SIGTERM") != "SIGTERM":
            problem(where, "stop_signal must be SIGTERM (the drain)")
        if svc.get("read_only") and "/tmp" not in (svc.get("tmpfs") or []) \
                and "SONAR_DATABASE_PASSWORD_FILE" in env:
            problem(where, "read_only needs a tmpfs /tmp for the libpq password file")


# ----------------------------------------------------------------------------------------------
# Kubernetes


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(repo: pathlib.Path, image: Image, version: str, helps: dict[str, Help],
              health_names: dict[str, set[str]]) -> None:
    base = repo / "deploy/k8s"
    docs: list[tuple[str, dict]] = []
    for path in sorted(base.glob("*.yaml")):
        rel = str(path.relative_to(repo))
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                problem(rel, "a document without apiVersion/kind")
                continue
            if doc["kind"] != "Kustomization" and not (doc.get("metadata") or {}).get("name"):
                problem(rel, f"{doc['kind']} without metadata.name")
                continue
            docs.append((rel, doc))

    kustomizations = [d for _, d in docs if d["kind"] == "Kustomization"]
    if len(kustomizations) != 1:
        problem("deploy/k8s", "expected one kustomization.yaml")
        resources = set()
    else:
        resources = set(kustomizations[0].get("resources") or [])
    for path in sorted(base.glob("*.yaml")):
        name = path.name
        if name in ("kustomization.yaml", "secrets.example.yaml"):
            continue
        if name not in resources:
            problem(f"deploy/k8s/{name}", "not listed in kustomization.yaml resources")
    for res in resources:
        if not (base / res).exists():
            problem("deploy/k8s/kustomization.yaml", f"resource {res} does not exist")
    for rel, d in docs:
        if d["kind"] == "Secret" and not rel.endswith("/secrets.example.yaml"):
            problem(rel, "a Secret in the manifests: real Secrets come from the secret store")

    by_kind: dict[str, dict[str, tuple[str, dict]]] = {}
    for rel, d in docs:
        by_kind.setdefault(d["kind"], {})[d.get("metadata", {}).get("name", "")] = (rel, d)
    configmaps = {n: d.get("data") or {} for n, (_, d) in by_kind.get("ConfigMap", {}).items()}
    secret_shapes = {n: set((d.get("stringData") or {}) | (d.get("data") or {}))
                     for n, (_, d) in by_kind.get("Secret", {}).items()}

    workloads = [(rel, d) for rel, d in docs if d["kind"] in ("Deployment", "Job", "StatefulSet")]
    deployments: dict[str, tuple[dict, dict[str, int], dict]] = {}  # name -> labels, ports, doc
    for rel, d in workloads:
        name = d["metadata"]["name"]
        where = f"{rel}: {d['kind']} {name}"
        spec = d.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if d["kind"] != "Job" and not labels_match((spec.get("selector") or {}).get("matchLabels"),
                                                   labels):
            problem(where, "selector.matchLabels does not match the pod template's labels")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        sc = pod.get("securityContext") or {}
        if not sc.get("runAsNonRoot"):
            problem(where, "pod securityContext.runAsNonRoot must be true")
        container_ports: dict[str, int] = {}
        for ctr in pod.get("containers") or []:
            cwhere = f"{where}: container {ctr.get('name')}"
            img = str(ctr.get("image", ""))
            if img != f"sonar:{version}":
                problem(cwhere, f"image {img} is not sonar:{version} (project version; set the "
                                "registry with kustomize images:)")
            if "command" in ctr:
                problem(cwhere, "use args, not command: command replaces the image's entrypoint")
            args = [str(a) for a in ctr.get("args") or []]
            if not args or args[0] not in image.programs or args[0] not in helps:
                problem(cwhere, "args[0] must name a server built into the image")
                continue
            program = args[0]
            res = ctr.get("resources") or {}
            for kind in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in (res.get(kind) or {}):
                        problem(cwhere, f"resources.{kind}.{what} missing")
            csc = ctr.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False or not csc.get(
                    "readOnlyRootFilesystem"):
                problem(cwhere, "needs allowPrivilegeEscalation: false, readOnlyRootFilesystem")
            mounts = {m["mountPath"]: m["name"] for m in ctr.get("volumeMounts") or []}
            for mount_name in mounts.values():
                if mount_name not in volumes:
                    problem(cwhere, f"volumeMount {mount_name} has no volume")
            env: dict[str, str | None] = {}
            for e in ctr.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    if ref.get("key") not in configmaps.get(ref.get("name"), {}):
                        problem(cwhere, f"env {e['name']}: ConfigMap {ref.get('name')} has no "
                                        f"key {ref.get('key')}")
                        env[e["name"]] = None
                    else:
                        env[e["name"]] = str(configmaps[ref["name"]][ref["key"]])
                else:
                    env[e["name"]] = None if e.get("value") is None else str(e.get("value"))
            if ctr.get("envFrom"):
                problem(cwhere, "envFrom hides which variables are set; list them")
            flags, unknown, rest = parse_args(args[1:], helps[program])
            if rest:
                problem(cwhere, f"unexpected arguments {rest}")

            def file_in_volume(path: str, what: str) -> tuple[dict, str] | None:
                directory, _, leaf = path.rpartition("/")
                vol_name = mounts.get(directory)
                if vol_name is None:
                    problem(cwhere, f"{what} {path} is not in a mounted volume")
                    return None
                return volumes.get(vol_name, {}), leaf

            ini: dict[str, str] = {}
            if flags.get("--config"):
                found = file_in_volume(str(flags["--config"]), "--config")
                if found:
                    vol, leaf = found
                    cm = vol.get("configMap") or {}
                    items = {i["path"]: i["key"] for i in cm.get("items") or []}
                    key = items.get(leaf, leaf)
                    text = configmaps.get(cm.get("name"), {}).get(key)
                    if text is None:
                        problem(cwhere, f"--config {flags['--config']}: no ConfigMap key {key}")
                    else:
                        ini = read_ini(str(text))
            check_program_settings(cwhere, program, helps[program], flags, unknown, list(env),
                                   list(ini))
            for path in [v for f, v in flags.items() if f.endswith(("-file", "-cert", "-key", "-ca"))
                         and v] + [v for k, v in env.items() if k.endswith("_FILE") and v]:
                found = file_in_volume(str(path), "file")
                if found:
                    vol, leaf = found
                    secret = (vol.get("secret") or {}).get("secretName")
                    if secret and secret in secret_shapes and leaf not in secret_shapes[secret]:
                        problem(cwhere, f"{path}: Secret {secret} (secrets.example.yaml) has no "
                                        f"key {leaf}")
                    if secret and secret not in secret_shapes:
                        problem(cwhere, f"Secret {secret} is not described in "
                                        "secrets.example.yaml")
            c = Container(cwhere, program, helps[program], flags, env, ini, image.env)
            ports = {p.get("name"): p.get("containerPort") for p in ctr.get("ports") or []}
            if "--migrate-only" in flags:
                if d["kind"] != "Job":
                    problem(cwhere, "--migrate-only belongs in a Job")
                continue
            if d["kind"] != "Deployment":
                problem(cwhere, "servers run as Deployments")
            main, health = c.main_port(), c.health_port()
            if main not in ports.values():
                problem(cwhere, f"{program} listens on {main}, not among containerPorts "
                                f"{sorted(ports.values())}")
            if health not in ports.values():
                problem(cwhere, f"health port {health} is not among containerPorts")
            if c.tls() and health == main:
                problem(cwhere, "with TLS, native gRPC probes need the plaintext --health-listen")
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = ctr.get(probe_name)
                if probe_name != "startupProbe" and not probe:
                    problem(cwhere, f"{probe_name} missing")
                if not probe:
                    continue
                grpc = probe.get("grpc")
                if not grpc:
                    problem(cwhere, f"{probe_name} must be a native gRPC probe")
                    continue
                if grpc.get("port") != health:
                    problem(cwhere, f"{probe_name} probes port {grpc.get('port')}, but "
                                    f"{program}'s health port is {health}")
                if (grpc.get("service") or "") not in health_names[program]:
                    problem(cwhere, f"{probe_name}: '{grpc.get('service')}' is not a health "
                                    f"service of {program}")
            ready = ((ctr.get("readinessProbe") or {}).get("grpc") or {}).get("service") or ""
            if ready == "":
                problem(cwhere, "readiness should ask for the service name, not the whole server")
            drain = int(c.setting("--drain-grace-ms") or 0)
            pre = ((ctr.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get(
                "command") or []
            pause = int(pre[1]) * 1000 if len(pre) == 2 and pre[0] == "sleep" else 0
            grace = int(pod.get("terminationGracePeriodSeconds", 30)) * 1000
            if grace < pause + drain + SERVER_SHUTDOWN_MS:
                problem(cwhere, f"terminationGracePeriodSeconds {grace // 1000} s < preStop "
                                f"{pause} ms + drain-grace-ms {drain} + {SERVER_SHUTDOWN_MS} ms")
            if program == "sonar-ingest" and int(c.setting("--max-connection-age-ms") or 0) <= 0:
                problem(cwhere, "connection rotation: set max-connection-age-ms so long ingest "
                                "streams rebalance across replicas")
            container_ports.update({k: v for k, v in ports.items() if k})
            container_ports.update({str(v): v for v in ports.values()})
        if d["kind"] == "Deployment":
            deployments[name] = (labels, container_ports, d)
        for vname, vol in volumes.items():
            cm = (vol.get("configMap") or {}).get("name")
            if cm and cm not in configmaps:
                problem(where, f"volume {vname}: ConfigMap {cm} is not in the manifests")

    for name, (rel, svc) in by_kind.get("Service", {}).items():
        where = f"{rel}: Service {name}"
        selector = (svc.get("spec") or {}).get("selector") or {}
        targets = [n for n, (labels, _, _) in deployments.items() if labels_match(selector, labels)]
        if len(targets) != 1:
            problem(where, f"selects {len(targets)} Deployments, expected 1")
            continue
        ports = deployments[targets[0]][1]
        for p in (svc.get("spec") or {}).get("ports") or []:
            target = str(p.get("targetPort", p.get("port")))
            if target not in ports:
                problem(where, f"targetPort {target} is no containerPort of {targets[0]}")
    pdb_targets = set()
    for name, (rel, pdb) in by_kind.get("PodDisruptionBudget", {}).items():
        selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        targets = [n for n, (labels, _, _) in deployments.items() if labels_match(selector, labels)]
        if len(targets) != 1:
            problem(f"{rel}: PodDisruptionBudget {name}", f"selects {len(targets)} Deployments")
        pdb_targets.update(targets)
        replicas = {n: int(deployments[n][2]["spec"].get("replicas", 1)) for n in targets}
        for n, r in replicas.items():
            if int((pdb.get("spec") or {}).get("minAvailable", 0) or 0) >= r:
                problem(f"{rel}: PodDisruptionBudget {name}", f"minAvailable blocks every "
                                                              f"eviction of {n}")
    for name in deployments:
        if name not in pdb_targets:
            problem(f"deploy/k8s: Deployment {name}", "no PodDisruptionBudget")
    services_for = {n for n in deployments
                    for _, svc in by_kind.get("Service", {}).values()
                    if labels_match((svc.get("spec") or {}).get("selector") or {},
                                    deployments[n][0])}
    for name in deployments:
        if name not in services_for:
            problem(f"deploy/k8s: Deployment {name}", "no Service")


# ----------------------------------------------------------------------------------------------
# docs/operations.md


def check_operations_doc(repo: pathlib.Path, helps: dict[str, Help]) -> None:
    rel = "docs/operations.md"
    path = repo / rel
    if not path.exists():
        problem(rel, "missing")
        return
    text = path.read_text()
    for program in SERVERS:
        for flag in helps[program].flags:
            if flag != "--help" and f"`{flag}" not in text:
                problem(rel, f"{program} {flag} is not documented")
        for env in helps[program].env:
            if f"`{env}`" not in text:
                problem(rel, f"env {env} of {program} is not documented")
    events = set()
    for src in sorted((repo / "service").glob("*.cc")) + sorted((repo / "storage").glob("*.cc")) \
            + sorted((repo / "ingest").glob("*.cc")):
        events |= set(re.findall(r'LogLine\(\s*"([a-z_]+)"', src.read_text()))
        for a, b in re.findall(r'LogLine\(\s*[a-z_]+\s*\?\s*"([a-z_]+)"\s*:\s*"([a-z_]+)"',
                               src.read_text()):
            events |= {a, b}
    entry = (repo / "deploy/docker-entrypoint.sh").read_text()
    events |= set(re.findall(r"fail ([a-z_]+) ", entry))
    for event in sorted(events):
        if f"`{event}`" not in text:
            problem(rel, f"log event {event} is not documented")


# ----------------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    repo = pathlib.Path(sys.argv[1]).resolve()
    bin_dir = pathlib.Path(sys.argv[2])
    helps = {p: run_help(bin_dir / p) for p in SERVERS}
    helps["sonarctl"] = run_help(bin_dir / "sonarctl")
    helps["sonarctl health"] = run_help(bin_dir / "sonarctl", "health")
    for program, planned in PLANNED.items():
        for item in sorted(planned):
            if item in helps[program].flags or item in helps[program].env:
                notes.append(f"{item} is now listed by `{program} --help`: drop it from PLANNED "
                             "in deploy/check_manifests.py and mark it available in "
                             "docs/operations.md")
    health_names: dict[str, set[str]] = {}
    for program, source in (("sonar-ingest", "ingest_main.cc"), ("sonar-query", "query_main.cc")):
        text = (repo / "service" / source).read_text()
        m = re.search(r"\.health_services\s*=\s*\{([^}]*)\}", text)
        if not m:
            problem(f"service/{source}", "cannot find .health_services")
        health_names[program] = {""} | set(re.findall(r'"([^"]+)"', m.group(1) if m else ""))
    version_m = re.search(r"project\(sonar VERSION ([0-9.]+)",
                          (repo / "CMakeLists.txt").read_text())
    version = version_m.group(1) if version_m else "?"

    image = Image(repo)
    check_image_env(image, helps)
    check_build_packages(repo, image)
    check_compose(repo, image, version, helps, health_names)
    check_k8s(repo, image, version, helps, health_names)
    check_operations_doc(repo, helps)

    for note in notes:
        print(f"  note: {note}")
    for p in problems:
        print(f"  FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
