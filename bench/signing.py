"""Signer benchmark: prints figures, asserts nothing. Run: ``python bench/signing.py``.

Each table level is measured in a fresh subprocess (tables never downgrade within a process):

* ``small``: what a one-shot CLI process uses (auto-upgrade disabled here to measure it);
* ``default``: a long-running process that did not call ``warm_tables`` (auto-upgrades to
  ``medium`` after a few hundred operations; the warm-up triggers it);
* ``large``: after ``warm_tables("large")`` (what the simulator calls at start-up).

Figures (CPU time, see ``_clock``): table build time, warm order hash+sign median (ms), order
hash+verify median (what the simulator does per order), Pedersen hashes/s (random inputs), sign/s,
verify/s (one key, as a simulator with a few accounts sees it; and a new key every time).
``--compare DIR`` instead runs an interleaved A/B (one process, alternating batches) against the
signer of another checkout in DIR (e.g. an older commit unpacked with ``git archive``).
Then, if the CLI has the ``sign`` command: a fresh ``paradexctl sign order`` process vs a bare
typer app's ``--version`` (medians over several runs, and the difference).

Goals on the reference machine: order hash+sign <= 3 ms, verify >= 500/s,
``paradexctl sign order`` within 100 ms of bare typer ``--version``. This script measures
paradexctl alone; the official SDK is measured beside it, in the same run, by
``bench/peers.py`` (``make bench-peers``).
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("small", "default", "large")
PRIV = 0x543B6CF6C91817A87174AAEA4FB370AC1C694E864D7740D728F8344D53E815
CHAIN_NAME = "PRIVATE_SN_POTC_SEPOLIA"
ACCOUNT_HASH = 0x41CB0280EBADAA75F996D8D92C6F265F6D040BB3BA442E5F86A554F1765244E
PROXY_HASH = 0x3530CC4759D78042F1B543BF797F5F3D647CDE0388C33734CF91B7F7B9314A9


# In-process figures use CPU time (time.process_time): the machine is shared, and CPU time is
# much less sensitive to other processes' load than wall time.
_clock = time.process_time


def _rate(fn: object, seconds: float = 1.5) -> float:
    assert callable(fn)
    n = 0
    start = _clock()
    while True:
        fn()
        n += 1
        elapsed = _clock() - start
        if elapsed >= seconds:
            return n / elapsed


def measure(level: str) -> dict[str, float]:
    """Runs inside the child process."""
    from paradexctl import signing as S
    from paradexctl.signing import tables

    rnd = random.Random(1)
    out: dict[str, float] = {}
    t0 = _clock()
    if level == "small":
        tables.AUTO_UPGRADE_AFTER = 10**12  # type: ignore[misc]
        tables.warm_tables("small")
    elif level == "large":
        tables.warm_tables("large")
    else:
        tables.warm_tables("small")
    out["build_ms"] = (_clock() - t0) * 1e3

    chain = S.chain_id_felt(CHAIN_NAME)
    pub = S.private_to_public(PRIV)
    account = S.derive_account_address(pub, ACCOUNT_HASH, PROXY_HASH)
    ts = [1735689600000]

    def order() -> tuple[int, int]:
        ts[0] += 1
        h = S.order_message_hash(
            chain,
            account,
            timestamp_ms=ts[0],
            market="BTC-USD-PERP",
            side="BUY",
            order_type="LIMIT",
            size=S.to_chain_int("0.015"),
            price=S.to_chain_int("97123.5"),
        )
        return S.sign(h, PRIV)

    for _ in range(300 if level != "small" else 20):  # warm-up (and auto-upgrade)
        order()
    samples = []
    for _ in range(200 if level != "small" else 60):
        t = _clock()
        order()
        samples.append((_clock() - t) * 1e3)
    out["order_hash_sign_ms"] = statistics.median(samples)

    # What the simulator does per order: the hash of a new order (new timestamp, the other
    # fields recurring) plus the verification of its signature by a key seen often.
    # Signed from the typed-data document, so the timed hash below is not a cached retry.
    from paradexctl.signing import snip12

    signed = []
    for _ in range(120):
        ts[0] += 1
        doc = snip12.typed_data(
            "Order",
            chain,
            snip12.order_message(
                timestamp_ms=ts[0], market="BTC-USD-PERP", side="BUY", order_type="LIMIT",
                size=1_500_000, price=9_712_350_000_000,
            ),
        )  # fmt: skip
        signed.append((ts[0], S.sign(snip12.typed_data_message_hash(doc, account), PRIV)))
    samples = []
    for t_ms, (r, s) in signed:
        t = _clock()
        h = S.order_message_hash(
            chain, account, timestamp_ms=t_ms, market="BTC-USD-PERP", side="BUY",
            order_type="LIMIT", size=1_500_000, price=9_712_350_000_000,
        )  # fmt: skip
        ok = S.verify(h, r, s, pub)
        samples.append((_clock() - t) * 1e3)
        assert ok
    out["order_hash_verify_ms"] = statistics.median(samples[20:])

    felts = [rnd.randrange(S.FIELD_PRIME) for _ in range(64)]
    i = [0]

    def ped() -> None:  # inputs never repeat (no cache hit): the cost of a generic hash
        i[0] += 1
        S.pedersen(felts[i[0] % 64], felts[(i[0] * 7) % 64] ^ i[0])

    out["pedersen_per_s"] = _rate(ped)
    hashes = [rnd.randrange(2**251) for _ in range(64)]
    sigs = [S.sign(h, PRIV) for h in hashes]
    out["sign_per_s"] = _rate(
        lambda: S.sign(hashes[i[0] % 64], PRIV) and i.__setitem__(0, i[0] + 1)
    )

    def ver() -> None:
        i[0] += 1
        k = i[0] % 64
        assert S.verify(hashes[k], *sigs[k], pub)

    out["verify_per_s"] = _rate(ver)
    keys = [rnd.randrange(1, S.EC_ORDER) for _ in range(20)]
    fresh = [(S.private_to_public(k), hashes[j], S.sign(hashes[j], k)) for j, k in enumerate(keys)]
    t = _clock()
    for p, h, (r, s) in fresh:
        assert S.verify(h, r, s, p)
    out["verify_new_key_per_s"] = len(fresh) / (_clock() - t)
    out["level_after"] = ["small", "medium", "large"].index(tables.current_level())
    return out


def ab_child(other: str, level: str, rounds: int = 16, batch: int = 30) -> None:
    """Interleaved A/B in one process: this checkout's signer against the one in ``other``
    (imported from ``other/paradexctl`` as a second package), alternating small batches so
    both see the same machine load. Prints CPU ms per operation and the ratios."""
    sys.path.insert(0, str(Path(other) / "paradexctl"))
    import signing as before  # type: ignore[import-not-found]

    from paradexctl import signing as after

    sys.path.pop(0)
    chain = after.chain_id_felt(CHAIN_NAME)
    pub = after.private_to_public(PRIV)
    account = after.derive_account_address(pub, ACCOUNT_HASH, PROXY_HASH)
    for mod in (before, after):
        if level != "default":
            mod.warm_tables(level)
    rnd = random.Random(2)
    felts = [rnd.randrange(after.FIELD_PRIME) for _ in range(64)]
    kw = dict(market="BTC-USD-PERP", side="BUY", order_type="LIMIT", size=1_500_000)
    ts = [1735689600000]

    def order_hash(mod: object) -> int:
        ts[0] += 1
        return mod.order_message_hash(  # type: ignore[attr-defined, no-any-return]
            chain, account, timestamp_ms=ts[0], price=9_712_350_000_000 + ts[0] % 5, **kw
        )

    sig_h = [order_hash(after) for _ in range(16)]
    sigs = [after.sign(h, PRIV) for h in sig_h]
    ops = {
        "order hash": lambda m, j: order_hash(m),
        "verify (same key)": lambda m, j: m.verify(sig_h[j % 16], *sigs[j % 16], pub),
        "Pedersen (fresh inputs)": lambda m, j: m.pedersen(felts[j % 64], felts[(j * 7) % 64] ^ j),
    }
    for mod in (before, after):  # warm-up: auto-upgrade at default, key tables, caches
        for j in range(300):
            for op in ops.values():
                op(mod, j)
    spent = {(name, tag): 0.0 for name in ops for tag in ("before", "after")}
    j = 0
    for r in range(rounds):
        pair = (("before", before), ("after", after))
        for tag, mod in pair if r % 2 else pair[::-1]:
            for name, op in ops.items():
                t = _clock()
                for k in range(batch):
                    op(mod, j + k)
                spent[(name, tag)] += _clock() - t
        j += batch
    n = rounds * batch
    print(f"A/B at {level} ({n} of each, interleaved; CPU ms per operation):")
    for name in ops:
        b, a = spent[(name, "before")] / n * 1e3, spent[(name, "after")] / n * 1e3
        print(f"  {name:26} before {b:7.3f}  after {a:7.3f}  after/before {a / b:5.2f}")


BARE_TYPER = """
import typer
app = typer.Typer(add_completion=False)
def _v(value: bool) -> None:
    if value:
        print("bare 0")
        raise typer.Exit(0)
@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", callback=_v, is_eager=True)) -> None:
    pass
app()
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_runs(
    cmds: dict[str, list[str]], env: dict[str, str], runs: int = 9
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run every command ``runs`` times, interleaved (the machine's load affects all alike).

    Returns wall-clock and CPU (user + system of the child) milliseconds per run.
    """
    times: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            c = _children_cpu()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            times[name].append((time.perf_counter() - t) * 1e3)
            cpu[name].append((_children_cpu() - c) * 1e3)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return times, cpu


def cli_startup() -> None:
    env = {
        **os.environ,
        "PARADEX_L2_PRIVATE_KEY": hex(PRIV),
        "PARADEX_ACCOUNT_ADDRESS": "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa",
        "XDG_CONFIG_HOME": "/nonexistent-paradexctl-bench",
    }
    env.pop("PYTHONDEVMODE", None)
    help_check = subprocess.run(
        [sys.executable, "-m", "paradexctl", "sign", "--help"], capture_output=True, env=env
    )
    if help_check.returncode != 0:
        print("\nCLI: `paradexctl sign` not available yet; skipping the start-up comparison")
        return
    pdx = [sys.executable, "-m", "paradexctl"]
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_typer.py"
        bare.write_text(BARE_TYPER)
        cmds = {
            "bare typer --version": [sys.executable, str(bare), "--version"],
            "paradexctl config show": [*pdx, "config", "show", "-o", "json"],
            "paradexctl sign order": [
                *pdx,
                "sign",
                "order",
                "--market",
                "BTC-USD-PERP",
                "--side",
                "BUY",
                "--size",
                "0.015",
                "--price",
                "97123.5",
                "--timestamp",
                "1735689600123",
                "-o",
                "json",
            ],
        }
        times, cpu = _timed_runs(cmds, env)
    med = {k: statistics.median(v) for k, v in times.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print("\nFresh processes, 9 interleaved runs each (medians):   wall ms    CPU ms")
    for name in times:
        print(f"  {name:44} {med[name]:9.1f} {cmed[name]:9.1f}")
    for label, a, b in (
        (
            "sign order - bare typer --version (goal <= 100)",
            "paradexctl sign order",
            "bare typer --version",
        ),
        (
            "sign order - config show (the signer's share)",
            "paradexctl sign order",
            "paradexctl config show",
        ),
    ):
        print(f"  {label:44} {med[a] - med[b]:9.1f} {cmed[a] - cmed[b]:9.1f}")
    print(
        "  (config show is the control: any command with options pays typer's parameter\n"
        "   conversion; the difference to it is what signing adds)"
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2])))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--ab-child":
        ab_child(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        for level in ("default", "large"):
            subprocess.run(
                [sys.executable, __file__, "--ab-child", sys.argv[2], level], check=True, cwd=ROOT
            )
        return
    results = {}
    for level in LEVELS:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", level],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        results[level] = json.loads(proc.stdout)
    rows = [
        ("table build (ms)", "build_ms", "{:.0f}"),
        ("order hash+sign median (ms)", "order_hash_sign_ms", "{:.2f}"),
        ("order hash+verify median (ms)", "order_hash_verify_ms", "{:.2f}"),
        ("Pedersen hashes/s", "pedersen_per_s", "{:.0f}"),
        ("sign/s (hash given)", "sign_per_s", "{:.0f}"),
        ("verify/s (same key)", "verify_per_s", "{:.0f}"),
        ("verify/s (new key each time)", "verify_new_key_per_s", "{:.0f}"),
    ]
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    print(f"{'':32}" + "".join(f"{lv:>12}" for lv in results))
    for label, key, fmt in rows:
        print(f"{label:32}" + "".join(f"{fmt.format(r[key]):>12}" for r in results.values()))
    print("(default = no warm_tables call: starts small, auto-upgrades to medium when busy)")
    print("goals: order hash+sign <= 3 ms; verify >= 500/s (against the SDK: make bench-peers)")
    cli_startup()


if __name__ == "__main__":
    main()
