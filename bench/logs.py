#!/usr/bin/env python3
"""Times `muster logs` against `docker-compose logs` on a container that wrote
1,000,000 lines, and samples muster's memory while it follows a container
that never stops writing.

1. Brings up (with docker-compose) a one-service project whose container
   runs `seq 1 1000000` and exits, and waits for it to exit.
2. Runs `muster -p P logs` and `docker-compose -p P logs` (output to
   /dev/null, no colour), alternating, --runs times each; prints the median
   and best wall time and the median CPU time (user + system) of each and checks once that both print 1,000,000
   lines. Also `muster logs -t` (timestamps read and parsed), and
   `docker logs` of the container as the floor the engine sets.
3. Starts a second service that writes lines without end, runs
   `muster logs -f` on it (output to /dev/null) for --follow-seconds, and
   samples the process's resident memory (VmRSS) every second.
4. Takes the project down.

Needs the image muster-test/busybox:1 (scripts/seed-images.sh builds it) and
a release build: `cargo build --release && python3 bench/logs.py`.
Usage: bench/logs.py [--muster target/release/muster] [--runs 3] [--follow-seconds 20]
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time

COMPOSE = """services:
  spew:
    image: muster-test/busybox:1
    command: [sh, -c, 'seq 1 1000000']
    # The daemon here rotates logs at 3 x 10 MB, which would keep only a
    # third of the lines.
    logging: {driver: json-file, options: {max-size: 1g}}
  endless:
    image: muster-test/busybox:1
    profiles: [follow]
    command: [sh, -c, 'while true; do seq 1 1000; done']
"""

def run(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, check=True, **kw)

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def timed(cmd, cwd):
    """Wall time and CPU time (user + system) of one run."""
    c0, t0 = cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, cpu() - c0

def lines(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return p.stdout.count(b"\n")

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--muster", default="target/release/muster")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--follow-seconds", type=int, default=20)
    args = ap.parse_args()
    muster = os.path.abspath(args.muster)
    project = f"benchlogs{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "compose.yaml"), "w") as f:
            f.write(COMPOSE)
        dc = ["docker-compose", "-p", project]
        try:
            run(dc + ["up", "-d", "spew"], d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run(["docker", "wait", f"{project}_spew_1"], d, stdout=subprocess.DEVNULL)
            cmds = {
                # The engine alone (the docker CLI copies its stream): a floor.
                "docker logs": ["docker", "logs", f"{project}_spew_1"],
                "docker-compose logs": dc + ["logs", "--no-color"],
                "muster logs": [muster, "-p", project, "logs", "--no-color"],
                "muster logs -t": [muster, "-p", project, "logs", "--no-color", "-t"],
            }
            for name, cmd in cmds.items():
                n = lines(cmd, d)
                print(f"{name}: {n} lines", flush=True)
                # docker-compose adds an `Attaching to ...` line.
                if n - name.startswith("docker-compose") != 1_000_000:
                    sys.exit(f"{name} printed {n} lines, not 1,000,000")
            times = {name: [] for name in cmds}
            for _ in range(args.runs):
                for name, cmd in cmds.items():
                    times[name].append(timed(cmd, d))
            for name, runs in times.items():
                wall = [w for w, _ in runs]
                used = [c for _, c in runs]
                print(f"{name}: wall median {statistics.median(wall):.2f} s, best {min(wall):.2f} s; "
                      f"CPU median {statistics.median(used):.2f} s; {len(runs)} runs", flush=True)

            run(dc + ["--profile", "follow", "up", "-d", "endless"], d,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            follow = subprocess.Popen([muster, "-p", project, "logs", "-f", "--no-color", "endless"],
                                      cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples = []
            for _ in range(args.follow_seconds):
                time.sleep(1)
                samples.append(rss_kib(follow.pid))
            follow.terminate()
            follow.wait()
            print("muster logs -f RSS (MiB) each second: " +
                  " ".join(f"{s / 1024:.1f}" for s in samples))
            print(f"muster logs -f RSS: first {samples[0] / 1024:.1f} MiB, "
                  f"max {max(samples) / 1024:.1f} MiB, last {samples[-1] / 1024:.1f} MiB")
        finally:
            subprocess.run(dc + ["--profile", "follow", "down", "-t", "0"], cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

if __name__ == "__main__":
    main()
