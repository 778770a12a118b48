#!/usr/bin/env python3
"""Build benchmarks (issue 4): deciding that nothing needs rebuilding, a
rebuild where only the last layer changed (against `docker build` of the
same context), and muster's peak memory while it sends a large context.

1. A 10,000-file context (100 directories of 100 small files). After one
   build, `muster up --no-start --progress plain` is run repeatedly on the
   unchanged project: the figure is the time of the "image ... is up to
   date" line (from the start of `up`'s reporting: scanning the context
   with the stat cache, hashing, inspecting the image), and the whole
   process's wall time. Then once with the stat cache removed (every file
   read and hashed).
2. The same context with a Dockerfile whose last step copies one file.
   Each round edits that file, then times `muster build` and
   `docker build` (classic builder, DOCKER_BUILDKIT=0) of the same
   directory, alternating which goes first. Medians of the rounds.
3. A context of 500 MB of random data (5 files) with a Dockerfile that does
   not copy it: the peak resident memory of `muster build` (and of the
   docker CLI's `docker build`, for reference) while the context is sent.

Needs the engine and the image muster-test/busybox:1
(scripts/seed-images.sh). Everything it builds is removed at the end.
Usage: bench/build.py [--muster target/release/muster] [--runs 10] [--rounds 5] [--big-mb 500]
"""
import argparse, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

BASE = "muster-test/busybox:1"
PROJECT = f"benchbuild{os.getpid()}"


def run(cmd, cwd, env=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return p


BUILT = set()


def remember(image):
    """Keeps the id of `image`, removed at the end (a rebuild untags it)."""
    p = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", image], capture_output=True, text=True)
    if p.returncode == 0:
        BUILT.add(p.stdout.strip())


def timed(cmd, cwd, env=None):
    t0 = time.perf_counter()
    p = run(cmd, cwd, env)
    return time.perf_counter() - t0, p


def peak_rss_kib(cmd, cwd, env=None):
    """The peak RSS of `cmd`, measured in a fresh wrapper process."""
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    p = run([sys.executable, "-c", code, *cmd], cwd, env)
    rc, rss = p.stdout.split()
    if rc != "0":
        sys.exit(f"{' '.join(cmd)} failed")
    return int(rss)


def write_tree(root, files):
    per_dir = 100
    for i in range(files):
        d = os.path.join(root, f"d{i // per_dir:03}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i % per_dir:03}.txt"), "w") as f:
            f.write(f"file {i}\n" * 8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--muster", default="target/release/muster")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-mb", type=int, default=500)
    a = ap.parse_args()
    muster = os.path.abspath(a.muster)
    tmp = tempfile.mkdtemp(prefix="muster-bench-build-")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"))
    images = [f"{PROJECT}-api", f"{PROJECT}-big", f"{PROJECT}-docker", f"{PROJECT}-docker-big"]
    try:
        # 1. No rebuild needed, 10,000 files.
        app = os.path.join(tmp, "app")
        write_tree(os.path.join(app, "deps"), a.files)
        with open(os.path.join(app, "last.txt"), "w") as f:
            f.write("0\n")
        with open(os.path.join(app, "Dockerfile"), "w") as f:
            f.write(f"FROM {BASE}\nCOPY deps/ /deps/\nRUN ls /deps | wc -l > /count\nCOPY last.txt /last.txt\n")
        with open(os.path.join(tmp, "compose.yaml"), "w") as f:
            f.write("services:\n  api:\n    build: ./app\n    command: [sleep, '3600']\n"
                    "  big:\n    build: ./big\n    profiles: [big]\n")
        mu = [muster, "-p", PROJECT]
        t, _ = timed(mu + ["build", "api", "-q"], tmp, env)
        remember(f"{PROJECT}-api")
        print(f"first build of the {a.files}-file context: {t:.2f} s")
        run(mu + ["up", "--no-start", "--progress", "plain"], tmp, env)
        decide, wall = [], []
        for _ in range(a.runs):
            t, p = timed(mu + ["up", "--no-start", "--progress", "plain"], tmp, env)
            m = re.search(r"\[\s*([\d.]+)s\] api: image \S+ is up to date", p.stderr)
            if not m:
                sys.exit(f"no 'up to date' line:\n{p.stderr}")
            decide.append(float(m.group(1)) * 1000)
            wall.append(t * 1000)
        print(f"no rebuild needed, {a.files} files: decided at median {statistics.median(decide):.0f} ms "
              f"(best {min(decide):.0f}), whole `up --no-start` median {statistics.median(wall):.0f} ms "
              f"(best {min(wall):.0f}) of {a.runs}")
        cold = []
        for _ in range(3):
            shutil.rmtree(os.path.join(tmp, "cache", "muster", "build", "stat"), ignore_errors=True)
            _, p = timed(mu + ["up", "--no-start", "--progress", "plain"], tmp, env)
            m = re.search(r"\[\s*([\d.]+)s\] api: image \S+ is up to date", p.stderr)
            cold.append(float(m.group(1)) * 1000)
        print(f"  the same with no stat cache (every file read and hashed): median {statistics.median(cold):.0f} ms of 3")
        run(mu + ["down"], tmp, env)

        # 2. Only the last layer changed: muster build (with its labels, and
        #    without: MUSTER_BUILD_LABELS=0) against docker build.
        denv = dict(env, DOCKER_BUILDKIT="0")
        nolabels = dict(env, MUSTER_BUILD_LABELS="0")
        run(["docker", "build", "-q", "-t", f"{PROJECT}-docker", app], tmp, denv)
        remember(f"{PROJECT}-docker")
        times = {"muster": [], "muster-nolabels": [], "docker": []}
        for r in range(a.rounds):
            order = list(times)
            order = order[r % 3:] + order[:r % 3]
            for who in order:
                with open(os.path.join(app, "last.txt"), "w") as f:
                    f.write(f"{who} {r} {random.random()}\n")
                if who == "muster":
                    t, _ = timed(mu + ["build", "api", "-q"], tmp, env)
                elif who == "muster-nolabels":
                    t, _ = timed(mu + ["build", "api", "-q"], tmp, nolabels)
                else:
                    t, _ = timed(["docker", "build", "-q", "-t", f"{PROJECT}-docker", app], tmp, denv)
                times[who].append(t)
                remember(f"{PROJECT}-docker" if who == "docker" else f"{PROJECT}-api")
        d = statistics.median(times["docker"])
        for who in ("muster", "muster-nolabels"):
            m = statistics.median(times[who])
            print(f"last layer changed, {a.files}-file context: {who} build median {m:.2f} s, "
                  f"docker build median {d:.2f} s, ratio {m / d:.2f} ({a.rounds} rounds)")

        # 3. Peak memory while sending a large context.
        big = os.path.join(tmp, "big")
        os.makedirs(big)
        chunk = 1 << 20
        per_file = a.big_mb // 5
        for i in range(5):
            with open(os.path.join(big, f"blob{i}"), "wb") as f:
                for _ in range(per_file):
                    f.write(os.urandom(chunk))
        with open(os.path.join(big, "Dockerfile"), "w") as f:
            f.write(f"FROM {BASE}\nRUN true\n")
        rss = peak_rss_kib(mu + ["--profile", "big", "build", "big", "-q", "--no-cache"], tmp, env)
        drss = peak_rss_kib(["docker", "build", "-q", "--no-cache", "-t", f"{PROJECT}-docker-big", big], tmp, denv)
        print(f"sending a {5 * per_file} MB context: muster peak RSS {rss / 1024:.1f} MiB "
              f"(docker CLI {drss / 1024:.1f} MiB)")
    finally:
        subprocess.run([muster, "-p", PROJECT, "down"], cwd=tmp, env=env, capture_output=True)
        for image in images:
            remember(image)
        subprocess.run(["docker", "rmi", "-f", *images, *BUILT], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
