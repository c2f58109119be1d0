"""Checkpoints move only as far as every output acknowledged, in order, and survive kill -9."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from shipper.acks import AckTracker
from shipper.checkpoint import CheckpointStore
from shipper.config_base import OutputConfig
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, Output, OutputContext, Stopping
from tests.support import wait


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 8))
def test_delivered_to_names_per_output_the_events_of_uncommitted_batches_it_stored(data, n):
    """Two outputs a and b; some acks arrive, then a stop: per output, the ids of the batches not
    committed that it stored, or had before (`had`), and nothing of a committed batch. A finished batch
    behind an unfinished one is not committed either: it is read again, so it is noted too."""
    tracker = AckTracker(lambda fragment: None)
    had = [data.draw(st.sampled_from([(), ("a",), ("b",)])) for _ in range(n)]
    seqs = [tracker.register(2 - len(h), {"pos": i}, [f"e{i}.0", f"e{i}.1"], h) for i, h in enumerate(had)]
    acked = {seq: set(h) for seq, h in zip(seqs, had)}
    for seq in data.draw(st.lists(st.sampled_from(seqs), unique=True)):
        for out in data.draw(st.sets(st.sampled_from(["a", "b"]))) - acked[seq]:
            tracker.ack(seq, out)
            acked[seq].add(out)
    expected: dict[str, list[str]] = {}
    first_unfinished = next((i for i, seq in enumerate(seqs) if len(acked[seq]) < 2), n)
    for i, seq in enumerate(seqs[first_unfinished:], first_unfinished):  # those before it are committed
        for out in sorted(acked[seq]):
            expected.setdefault(out, []).extend([f"e{i}.0", f"e{i}.1"])
    assert tracker.delivered_to() == expected


@settings(max_examples=200, deadline=None)
@given(data=st.data(), outputs=st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_commit_is_the_longest_fully_acked_prefix(data, outputs):
    """Whatever order acks arrive in, the committed state is that of the last batch whose
    predecessors and itself are all fully acknowledged."""
    committed: dict = {}
    tracker = AckTracker(committed.update)
    seqs = [tracker.register(n, {"pos": i}) for i, n in enumerate(outputs)]
    pending = [seq for seq, n in zip(seqs, outputs) for _ in range(n)]
    order = data.draw(st.permutations(pending))
    remaining = dict(zip(seqs, outputs))
    for seq in order:
        tracker.ack(seq)
        assert tracker.wait_saved(10)  # committed by the tracker's thread, at once: nothing else in progress
        remaining[seq] -= 1
        prefix = 0
        while prefix < len(seqs) and remaining[seqs[prefix]] == 0:
            prefix += 1
        expected = {"pos": prefix - 1} if prefix else {}
        assert committed == expected
    assert tracker.in_flight() == 0 or not order


def test_acks_during_a_commit_return_at_once_and_are_merged_into_the_next():
    """Group commit with no delay: the first completed batch is committed at once; the acks arriving
    while that commit is in progress return at once (the output sends on; its own window bounds how
    many: OutputWorker) and are merged into the next commit."""
    committed: list[dict] = []
    entered, release = threading.Semaphore(0), threading.Event()

    def slow_commit(fragment):
        entered.release()
        assert release.wait(30)
        committed.append(dict(fragment))

    tracker = AckTracker(slow_commit)
    seqs = [tracker.register(1, {"pos": i}) for i in range(20)]
    tracker.ack(seqs[0])
    assert entered.acquire(timeout=30), "the first completed batch is committed at once"
    settled: list[int] = []
    for seq in seqs[1:19]:
        tracker.ack(seq, "out", lambda seq=seq: settled.append(seq))  # returns: merged behind the commit
    assert committed == [] and settled == [] and tracker.in_flight() == 2  # the last unacked, + the commit
    release.set()
    assert wait(lambda: len(settled) == 18, 30), "settled once their merged commit returned"
    assert committed == [{"pos": 0}, {"pos": 18}] and settled == seqs[1:19]
    tracker.ack(seqs[19])
    assert tracker.wait_idle(30)
    assert committed[-1] == {"pos": 19} and tracker.commits == 3 and tracker.committed_seq == seqs[-1]


def test_an_ack_that_does_not_complete_its_batch_settles_at_once():
    """Output a stored a batch output b still owes: a's window is not held by it (a would wait for b, and
    b's window might wait for a's next batch). The ack that completes it holds b's until the commit."""
    committed: list[dict] = []
    tracker = AckTracker(lambda fragment: committed.append(dict(fragment)))
    seq = tracker.register(2, {"pos": 0})
    settled: list[str] = []
    tracker.ack(seq, "a", lambda: settled.append("a"))
    assert settled == ["a"] and committed == []
    tracker.ack(seq, "a", lambda: settled.append("a again"))  # acknowledged twice: not counted, settled
    assert settled == ["a", "a again"]
    tracker.ack(seq, "b", lambda: settled.append("b"))
    assert wait(lambda: settled == ["a", "a again", "b"], 30) and committed == [{"pos": 0}]


def test_a_hung_store_stops_the_output_once_its_window_is_delivered(tmp_path):
    """The checkpoint writer held by SIGSTOP (commits hang): the output delivers max_in_flight_batches
    batches, no more (a kill -9 would send exactly those again); the sources' puts then fill its queue and
    wait. Once the writer goes on, every batch is delivered and committed."""
    store = CheckpointStore(str(tmp_path))
    tracker = AckTracker(lambda frag: store.update("src", frag))
    out = FlakyOutput()
    out.up.set()
    worker = OutputWorker("out", out, max_batches=3, max_bytes=1 << 20, stop=threading.Event())
    worker.start()
    never = threading.Event()
    try:
        assert worker.put(Batch("src", "t", [{"n": 0}], ["0"], 10), tracker, tracker.register(1, {"n": 0}), never)
        assert tracker.wait_idle(30)
        os.kill(store._proc.pid, signal.SIGSTOP)
        for n in range(1, 7):
            assert worker.put(Batch("src", "t", [{"n": n}], [str(n)], 10), tracker, tracker.register(1, {"n": n}),
                              never)
        assert wait(lambda: len(out.delivered) == 4, 30)
        seventh = Batch("src", "t", [{"n": 7}], ["7"], 10)
        give_up = threading.Event()
        threading.Timer(1.0, give_up.set).start()
        assert not worker.put(seventh, tracker, tracker.register(1, {"n": 7}), give_up), "the queue is full"
        assert len(out.delivered) == 4 and worker.unsettled() == 3, "3 delivered wait for their commit"
    finally:
        os.kill(store._proc.pid, signal.SIGCONT)
    assert wait(lambda: len(out.delivered) == 7, 30)
    tracker.withdraw({7})  # the refused put's batch: read again
    assert tracker.wait_idle(30) and worker.unsettled() == 0
    assert store.load("src") == {"n": 6}
    worker.stop.set()
    worker.close(5)
    store.close()


def test_outputs_with_one_batch_of_window_each_never_wait_for_each_other(tmp_path):
    """Two outputs with max_in_flight_batches 1, four sources putting batches to a, b or both in either order,
    checkpoints committed by the writer process: every batch is delivered and committed (an output whose
    window held the batches another output still owed could wait for that output, waiting for it)."""
    store = CheckpointStore(str(tmp_path))
    stop = threading.Event()
    delivered: dict[str, list] = {"a": [], "b": []}

    class Recording(Output):
        def __init__(self, name):
            self.name = name

        def send(self, batch):
            delivered[self.name].extend(e["n"] for e in batch.events)

    workers = {name: OutputWorker(name, Recording(name), 1, 1 << 20, stop) for name in ("a", "b")}
    for w in workers.values():
        w.start()
    trackers = [AckTracker(lambda frag, k=k: store.update(f"s{k}", frag)) for k in range(4)]
    give_up = threading.Event()
    sent: dict[str, list] = {"a": [], "b": []}

    def source(k: int) -> None:
        rng = random.Random(k)
        for i in range(150):
            targets = rng.choice([["a"], ["b"], ["a", "b"], ["b", "a"]])
            n = k * 1000 + i
            seq = trackers[k].register(len(targets), {"n": n})
            for name in targets:
                sent[name].append(n)
            for name in targets:
                if not workers[name].put(Batch(f"s{k}", "t", [{"n": n}], [str(n)], 10), trackers[k], seq, give_up):
                    return

    sources = [threading.Thread(target=source, args=(k,), daemon=True) for k in range(4)]
    for t in sources:
        t.start()
    deadline = time.monotonic() + 120
    for t in sources:
        t.join(max(0.0, deadline - time.monotonic()))
    give_up.set()
    assert not any(t.is_alive() for t in sources), "a source still waits for room: the outputs wait for each other"
    assert all(tracker.wait_idle(60) for tracker in trackers), "batches delivered and not committed"
    assert [store.load(f"s{k}") for k in range(4)] == [{"n": k * 1000 + 149} for k in range(4)]
    assert {name: sorted(ns) for name, ns in delivered.items()} == {name: sorted(ns) for name, ns in sent.items()}
    assert {w.unsettled() for w in workers.values()} == {0}
    stop.set()
    for w in workers.values():
        w.close(5)
    store.close()


def test_withdraw_commits_what_it_unblocked_before_it_returns():
    """A reload withdraws the batches no output was handed, then counts in_flight(): what the withdrawal
    unblocked is committed before withdraw() returns (within WITHDRAW_WAIT), so a commit merely in
    progress is not taken for a batch the source must wait for."""
    committed: list[dict] = []

    def slow_commit(fragment):
        time.sleep(0.05)  # (without the wait, withdraw() returns before it is committed)
        committed.append(dict(fragment))

    tracker = AckTracker(slow_commit)
    first, second = tracker.register(1, {"pos": 1}), tracker.register(1, {"pos": 2})
    tracker.ack(second)  # done, but behind the first, which no output was handed
    tracker.withdraw({first})
    assert committed == [{"pos": 2}] and tracker.in_flight() == 0


IN_FLIGHT = 8  # the output's max_in_flight_batches (the default)
DELIVERING = """
import os, signal, sys, threading
from shipper.acks import AckTracker
from shipper.checkpoint import CheckpointStore
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, Output

class Appending(Output):  # a batch is stored once its numbers are in the file (what stdout does)
    def __init__(self, path):
        self.f = open(path, "ab", buffering=0)

    def send(self, batch):
        self.f.write(b"".join(b"%d\\n" % e["n"] for e in batch.events))

store = CheckpointStore(sys.argv[1])
n = store.load("src").get("next", 0)
hold = threading.Event()  # the test's "stop": the writer is stopped before the next commit that leaves room


def commit(fragment):
    # That commit hangs. With room left in the output's window, a batch delivered from now on is in no
    # commit the writer will answer: the kill catches it. (A commit taken with the window full behind it
    # leaves none: stopped there, a kill repeats nothing.)
    if hold.is_set() and worker.unsettled() < int(sys.argv[3]):
        hold.clear()
        os.kill(store._proc.pid, signal.SIGSTOP)
    store.update("src", fragment)


tracker = AckTracker(commit)
worker = OutputWorker("out", Appending(sys.argv[2]), int(sys.argv[3]), 1 << 30, threading.Event())
worker.start()


def answer():  # each line from the test is answered with the output's window (delivered, commit not returned)
    for line in sys.stdin:
        if line.strip() == "stop":
            hold.set()
        print(worker.unsettled(), flush=True)


threading.Thread(target=answer, daemon=True).start()
print(store._proc.pid, flush=True)
never = threading.Event()
while True:
    seq = tracker.register(1, {"next": n + 3})
    worker.put(Batch("src", "t", [{"n": k} for k in range(n, n + 3)], [str(k) for k in range(n, n + 3)], 30),
               tracker, seq, never)
    n += 3
"""


def _ask(p: subprocess.Popen, line: str = "") -> int:
    """The delivering process's output window (batches delivered, commit not returned), after `line`."""
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()
    return int(p.stdout.readline())


def _state(pid: int) -> str | None:
    """The process's state letter (T stopped, Z ended), None once reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("store", ["answering", "stopped"])
def test_a_kill_9_repeats_at_most_the_batches_in_flight(tmp_path, store):
    """A source delivering 3-number batches through an output worker as fast as it can, its
    checkpoints committed by the writer process, is killed -9 at random moments (with the writer
    answering, or stopped by SIGSTOP at a commit, the output's window delivered behind it: commits
    hang). The next run starts from the saved checkpoint: it never skips a number, and it repeats only
    what was in flight, delivered but not committed: at most the output's max_in_flight_batches (its
    window holds a delivered batch until its commit returned)."""
    state, out = tmp_path / "state", tmp_path / "out"
    rng = random.Random(19)
    for _ in range(4):
        p = subprocess.Popen([sys.executable, "-c", DELIVERING, str(state), str(out), str(IN_FLIGHT)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        writer = int(p.stdout.readline())
        time.sleep(rng.uniform(0.1, 0.5))
        if store == "stopped":
            # The writer stopped at the next commit that leaves room (DELIVERING), then the output delivers
            # its window behind it: waited for. (Stopped at any moment, 0.5 s before the kill: 4 kills of
            # 16 at load ~25 caught nothing, the hung commit had taken the whole window.)
            _ask(p, "stop")
            assert wait(lambda: _state(writer) == "T" and _ask(p) == IN_FLIGHT, 60), "no window behind a hung commit"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stdin.close()
        p.stdout.close()
        os.kill(writer, signal.SIGCONT)  # it ends, and lets go of the state_dir's lock, once it sees the agent gone
        assert wait(lambda: _state(writer) in (None, "Z"), 30)
        reader = CheckpointStore(str(state))
        saved = reader.load("src").get("next", 0)
        reader.close()
        delivered = [int(x) for x in out.read_bytes().split()]
        top = max(delivered)
        assert saved <= top + 1, "committed past what was delivered: a crash skips it"
        assert set(delivered) == set(range(top + 1)), "a number never delivered"
        repeats = (top + 1 - saved) // 3  # batches delivered and not committed: the next run sends them again
        assert repeats <= IN_FLIGHT, f"{repeats} batches delivered and not committed at the kill"
        assert store == "answering" or repeats >= 1, "the kill caught no batch behind the hung commit"
    if store == "stopped":  # (answering, a kill may find every delivered batch committed)
        assert len(delivered) > len(set(delivered)), "no kill caught a batch behind the hung commit"


OUTPUTS = ("a", "b", "c")


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 6))
def test_a_stranded_batch_is_never_committed_and_taken_back_only_once_no_output_still_sends(data, n):
    """Three outputs a, b, c; acks arrive in any order, and a reload strands some batches for some outputs
    (closed holding them, or never handed them). A stranded batch never commits, nor does any after it;
    `unfinished()` names the window only once every ack still owed came in (an output still sending a batch
    would be sent it again by the re-read), and delivered_to then names per output exactly what it stored,
    also an output stranded whose cut-short send was acknowledged after all."""
    committed: dict = {}
    tracker = AckTracker(committed.update)
    seqs = [tracker.register(3, {"pos": i}, [f"e{i}"]) for i in range(n)]
    stored: dict[int, set[str]] = {seq: set() for seq in seqs}
    stranded: dict[int, set[str]] = {seq: set() for seq in seqs}
    steps = data.draw(st.lists(st.tuples(st.sampled_from(["ack", "strand"]), st.sampled_from(seqs),
                                         st.sampled_from(OUTPUTS)), max_size=40))
    for what, seq, out in steps:
        if what == "ack" and out not in stored[seq]:
            tracker.ack(seq, out)
            stored[seq].add(out)
        elif what == "strand":
            tracker.strand(seq, [out])
            if out not in stored[seq]:
                stranded[seq].add(out)
        assert tracker.wait_saved(10)  # committed by the tracker's thread, at once: nothing else in progress
        first_open = next((i for i, seq in enumerate(seqs) if len(stored[seq]) < 3), n)
        assert committed == ({"pos": first_open - 1} if first_open else {})
        owed = any(len(stored[seq] | stranded[seq]) < 3 for seq in seqs[first_open:])
        cannot_complete = any(stranded[seq] - stored[seq] for seq in seqs[first_open:])
        expected = set(seqs[first_open:]) if cannot_complete and not owed else set()
        assert tracker.unfinished() == expected
    if tracker.unfinished():
        delivered = tracker.delivered_to(tracker.unfinished())
        for out in OUTPUTS:
            assert delivered.get(out, []) == [f"e{i}" for i, seq in enumerate(seqs)
                                              if seq in tracker.unfinished() and out in stored[seq]]


def test_a_batch_the_closed_output_never_had_waits_for_the_output_still_sending_it():
    """The reload's case: stdout stored batch 0, fa (wedged) is sending it, fb was closed before its put.
    Not taken back while fa sends it (it would go to fa twice); once fa acknowledged it, taken back with
    stdout and fa noted, so the re-read sends it to fb only; it never commits."""
    committed: dict = {}
    tracker = AckTracker(committed.update)
    seq = tracker.register(3, {"pos": 0}, ["e0"])
    tracker.ack(seq, "stdout")
    tracker.strand(seq, ["fb"])
    assert tracker.unfinished() == set() and tracker.in_flight() == 1
    tracker.ack(seq, "fa")
    assert tracker.wait_saved(10)
    assert tracker.unfinished() == {seq} and committed == {}
    assert tracker.delivered_to({seq}) == {"stdout": ["e0"], "fa": ["e0"]}
    assert tracker.untouched_suffix(attempted=set()) == set()  # outputs stored it: never withdrawn untouched


class FlakyOutput(Output):
    """Fails until told to work, like an output whose server is down."""

    def __init__(self):
        self.up = threading.Event()
        self.stop = threading.Event()
        self.delivered: list[list[dict]] = []

    def send(self, batch: Batch) -> None:
        while not self.up.is_set():
            if self.stop.wait(0.01):
                raise Stopping()
        self.delivered.append(batch.events)


def test_checkpoint_waits_for_the_output_and_backpressure_blocks(tmp_path):
    store = CheckpointStore(str(tmp_path))
    tracker = AckTracker(lambda frag: store.update("src", frag))
    out = FlakyOutput()
    stop = threading.Event()
    worker = OutputWorker("flaky", out, max_batches=2, max_bytes=10_000, stop=stop)
    worker.start()
    give_up = threading.Event()
    for i in range(2):
        b = Batch("src", "t", [{"n": i}], ["id"], 10)
        assert worker.put(b, tracker, tracker.register(1, {"file": i}), give_up)
    # The queue is full: a third put blocks until we give up.
    third = Batch("src", "t", [{"n": 2}], ["id"], 10)
    seq3 = tracker.register(1, {"file": 2})
    t = threading.Thread(target=lambda: setattr(t, "result", worker.put(third, tracker, seq3, give_up)))
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "put must block while the output is down and the queue full"
    assert store.load("src") == {}, "nothing delivered, nothing checkpointed"
    out.up.set()
    t.join(5)
    assert t.result is True
    assert tracker.wait_idle(5)
    assert store.load("src") == {"file": 2}
    assert [e[0]["n"] for e in out.delivered] == [0, 1, 2]
    stop.set()
    worker.close(2)


def test_undelivered_batches_are_not_checkpointed_on_stop(tmp_path):
    store = CheckpointStore(str(tmp_path))
    tracker = AckTracker(lambda frag: store.update("src", frag))
    out = FlakyOutput()
    stop = threading.Event()
    worker = OutputWorker("flaky", out, 4, 10_000, stop)
    worker.start()
    worker.put(Batch("src", "t", [{}], ["i"], 1), tracker, tracker.register(1, {"k": 1}), threading.Event())
    time.sleep(0.1)
    stop.set()
    out.stop.set()
    worker.close(2)
    assert store.load("src") == {}
    assert tracker.in_flight() == 1


WRITER = """
import sys
from shipper.checkpoint import CheckpointStore
s = CheckpointStore(sys.argv[1])
i = 0
while True:
    s.update("src", {"a": i, "b": i})
    i += 1
    if i == 50:
        print("go", flush=True)
"""


def test_checkpoints_survive_kill_9_consistent(tmp_path):
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"go"
        time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        store = CheckpointStore(str(tmp_path))  # the lock died with the writer
        state = store.load("src")
        store.close()  # and this one lets the next writer in
        assert state["a"] == state["b"] >= 49, "both keys of one update commit together"


def test_withdrawn_batches_are_forgotten_and_later_ones_still_commit_in_order():
    committed: dict = {}
    tracker = AckTracker(committed.update)
    seqs = [tracker.register(2, {"pos": i}) for i in range(5)]
    tracker.ack(seqs[0])
    tracker.ack(seqs[2])
    # Batches 3 and 4 no output has seen; 2 was acknowledged by one of two outputs: not withdrawable.
    assert tracker.untouched_suffix(attempted=set()) == {seqs[3], seqs[4]}
    assert tracker.untouched_suffix(attempted={seqs[4]}) == set()  # an output was handed the last one
    tracker.withdraw({seqs[3], seqs[4]})
    tracker.ack(seqs[4])  # a late ack of a withdrawn batch changes nothing
    assert tracker.in_flight() == 3 and committed == {}
    for seq in (seqs[0], seqs[1], seqs[1], seqs[2]):
        tracker.ack(seq)
    assert tracker.wait_idle(10)
    assert committed == {"pos": 2} and tracker.in_flight() == 0
    later = tracker.register(1, {"pos": 5})
    tracker.ack(later)
    assert tracker.wait_idle(10)
    assert committed == {"pos": 5}


def test_compact_gives_back_the_space_of_deleted_keys_and_empties_the_wal(tmp_path):
    store = CheckpointStore(str(tmp_path))
    try:
        for i in range(2000):  # like a file source over many rotations: keys come and go
            store.update("src", {f"f:{i}": {"path": f"/var/log/x.{i}", "offset": i * 1000, "pad": "x" * 200}})
        peak = store.size()
        store.update("src", {f"f:{i}": None for i in range(1990)})
        store.compact()
        assert store.size() < peak / 4, (store.size(), peak)
        assert os.path.getsize(store.path + "-wal") == 0
        assert store.load("src") == {f"f:{i}": {"path": f"/var/log/x.{i}", "offset": i * 1000, "pad": "x" * 200}
                                     for i in range(1990, 2000)}
    finally:
        store.close()


class ChunkedOutput(Output):
    """Stores each batch in chunks of 2 events and tells each (ctx.stored); stops taking chunks after
    `takes` of them, until the stop (a server gone down mid-batch)."""

    def __init__(self, ctx: OutputContext, takes: int):
        super().__init__(OutputConfig(type="chunked"), ctx)
        self.takes = takes
        self.stored: list[str] = []

    def send(self, batch: Batch) -> None:
        for start in range(0, len(batch.events), 2):
            while self.takes == 0:
                if self.ctx.stop.wait(0.01):
                    raise Stopping()
            self.takes -= 1
            self.stored.extend(batch.ids[start:start + 2])
            self.ctx.stored(batch, range(start, min(start + 2, len(batch.events))))


@pytest.mark.parametrize("takes", [0, 1, 2])
def test_the_chunks_of_an_unfinished_batch_an_output_stored_are_noted_as_its_own(takes):
    """A batch of 6 events sent in chunks of 2: a stop after `takes` chunks (attack 12: Fluentd acked 3
    chunks of a batch, then a stop or a reload replacing it sent all 10 again). delivered_to names exactly
    the events of the chunks stored; once the batch completes and commits, nothing."""
    stop = threading.Event()
    out = ChunkedOutput(OutputContext(name="chunked", stop=stop, state_dir="/nonexistent"), takes)
    committed: list[dict] = []
    tracker = AckTracker(committed.append)
    worker = OutputWorker("chunked", out, max_batches=2, max_bytes=1 << 20, stop=stop)
    worker.start()
    ids = [f"e{i}" for i in range(6)]
    seq = tracker.register(1, {"pos": 6}, ids)
    assert worker.put(Batch("src", "t", [{"n": i} for i in range(6)], ids, 60), tracker, seq, threading.Event())
    assert wait(lambda: len(out.stored) == 2 * takes, 30)
    time.sleep(0.2)  # (nothing more is stored: takes ran out)
    assert out.stored == ids[:2 * takes]
    assert tracker.delivered_to() == ({"chunked": ids[:2 * takes]} if takes else {})
    stop.set()
    worker.close(30)
    assert tracker.delivered_to() == ({"chunked": ids[:2 * takes]} if takes else {}), "noted after the stop too"
    assert committed == []


def test_a_batch_completed_after_parts_were_noted_leaves_no_note():
    stop = threading.Event()
    out = ChunkedOutput(OutputContext(name="chunked", stop=stop, state_dir="/nonexistent"), 3)
    committed: list[dict] = []
    tracker = AckTracker(committed.append)
    worker = OutputWorker("chunked", out, max_batches=2, max_bytes=1 << 20, stop=stop)
    worker.start()
    ids = [f"e{i}" for i in range(6)]
    seq = tracker.register(1, {"pos": 6}, ids)
    try:
        assert worker.put(Batch("src", "t", [{"n": i} for i in range(6)], ids, 60), tracker, seq, threading.Event())
        assert tracker.wait_idle(30) and committed == [{"pos": 6}]
        assert tracker.delivered_to() == {}
    finally:
        stop.set()
        worker.close(30)
