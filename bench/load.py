#!/usr/bin/env python3
"""Times loading a large compose file, and `muster --version`.

Generates a 1,000-service compose file (each service with ports, volumes,
environment, a healthcheck and ~3 dependencies on earlier services), then
runs `muster config -q` (load, interpolate, validate, plan) and
`muster --version` repeatedly, printing the median and best wall time.
Usage: bench/load.py [--muster target/release/muster] [--services 1000] [--runs 30]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

def generate(n):
    lines = ["x-hc: &hc", "  test: [CMD, test, -f, /tmp/ready]", "  interval: 5s", "services:"]
    for i in range(n):
        lines += [
            f"  svc{i}:",
            "    image: muster-bench/busybox:${TAG:-1}",
            "    command: [sh, -c, 'exec sleep 3600']",
            f"    ports: ['127.0.0.1::{8000 + i % 1000}']",
            f"    volumes: ['./data/{i}:/data', 'cache:/cache:ro']",
            "    environment:",
            f"      INDEX: '{i}'",
            "      MODE: ${MODE:-dev}",
            "    healthcheck: *hc",
        ]
        deps = [d for d in (i - 1, i // 2, i // 3) if 0 <= d < i]
        if deps:
            lines.append("    depends_on:")
            for d in dict.fromkeys(deps):
                lines.append(f"      svc{d}: {{condition: service_healthy}}")
    lines += ["volumes:", "  cache: {}"]
    return "\n".join(lines) + "\n"

def timed(cmd, runs, cwd):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr.decode()}")
    return statistics.median(times) * 1000, min(times) * 1000

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--muster", default="target/release/muster")
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    muster = os.path.abspath(a.muster)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "compose.yaml"), "w") as f:
            f.write(generate(a.services))
        med, best = timed([muster, "config", "-q"], a.runs, d)
        print(f"config -q, {a.services} services: median {med:.1f} ms, best {best:.1f} ms")
        med, best = timed([muster, "config", "--services"], a.runs, d)
        print(f"config --services (plan), {a.services} services: median {med:.1f} ms, best {best:.1f} ms")
        med, best = timed([muster, "--version"], a.runs, d)
        print(f"--version: median {med:.2f} ms, best {best:.2f} ms")

if __name__ == "__main__":
    main()
