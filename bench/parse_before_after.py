"""CPU cost of parsing ordinary mail: an older commit's parse_email beside
this checkout's, on the same mail, in alternating rounds on the same box.

Throughput measured on a shared box moves with the other jobs; two versions
timed back to back, round after round, share the same conditions, so their
ratio holds where the absolute figures do not. Only parse_email is timed
(pure Python, no database): the mail is shaped like bench_intake.py's (plain
text, half with an HTML alternative, one in ten with a small attachment).

    .venv/bin/python bench/parse_before_after.py --before 69127cf --mails 2000 --rounds 3
"""

import argparse
import io
import json
import os
import pickle
import random
import subprocess
import sys
import tarfile
import tempfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def raw_mail(rng, i: int) -> bytes:
    """bench_intake.raw_mail's shape, without Django."""
    message = EmailMessage()
    message["From"] = f"customer{i}@mail.example"
    message["To"] = "help@bench.example"
    message["Subject"] = f"Bench intake {i}"
    message["Message-ID"] = make_msgid(domain="client.example")
    body = "The export to CSV times out after two minutes."
    message.set_content(body)
    kind = rng.random()
    if kind < 0.5:
        message.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    if kind > 0.9:
        message.add_attachment(
            b"log line\n" * 200, maintype="text", subtype="plain", filename="log.txt"
        )
    return message.as_bytes()


WORKER = """
import os, pickle, sys, time
tree, mails = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
os.chdir(tree)
import importlib.util, types
# The older settings may name apps this venv lacks (parsing needs none of them).
import helpdesk.settings as base
shim = types.ModuleType("bench_settings")
shim.__dict__.update({k: v for k, v in vars(base).items() if k.isupper()})
shim.INSTALLED_APPS = [a for a in base.INSTALLED_APPS if importlib.util.find_spec(a.split(".")[0])]
sys.modules["bench_settings"] = shim
os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
import django
django.setup()
from tickets.intake import parse_email
raws = pickle.load(open(mails, "rb"))
for raw in raws[:50]:
    parse_email(raw)  # warm-up
cpu, wall = time.process_time(), time.monotonic()
for raw in raws:
    parse_email(raw)
print(time.process_time() - cpu, time.monotonic() - wall)
"""


def timed(tree: Path, mails: Path) -> tuple[float, float]:
    env = {**os.environ, "SECRET_KEY": "bench-only-secret-key-not-for-production"}
    env.pop("PYTHONPATH", None)
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WORKER, str(tree), str(mails)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"parsing with the code at {tree} failed:\n{out.stderr[-3000:]}")
    cpu, wall = out.stdout.split()[-2:]
    return float(cpu), float(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="69127cf", help="commit to compare with")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    rng = random.Random(42)
    raws = [raw_mail(rng, i) for i in range(args.mails)]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        old.mkdir()
        archive = subprocess.run(  # noqa: S603 - a commit of this repository
            ["git", "-C", str(REPO), "archive", args.before],  # noqa: S607 - git from PATH
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        mails = Path(tmp) / "mails.pickle"
        mails.write_bytes(pickle.dumps(raws))
        rows = []
        for n in range(1, args.rounds + 1):
            for label, tree in ((args.before, old), ("this checkout", REPO)):
                cpu, wall = timed(tree, mails)
                rows.append({"round": n, "code": label, "cpu_s": cpu, "wall_s": wall})
                print(
                    f"round {n}  {label:<14} {args.mails} mails: {cpu * 1e6 / args.mails:6.0f} "
                    f"us CPU per mail ({args.mails / cpu:5.0f}/CPU s; wall {wall:.1f} s, "
                    f"load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    if args.out:
        Path(args.out).write_text(json.dumps({"mails": args.mails, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
