"""The bounded output tail: last lines kept, every line and the whole capped, streams apart."""

from kstalerts._tail import MAX_TAIL_BYTES, TailBuffer


def test_keeps_the_last_lines_across_chunks_and_counts_everything() -> None:
    tail = TailBuffer(max_lines=3)
    for chunk in (b"1\n2\n", b"3", b"\n4\n5", b"\n6\n"):
        tail.feed(chunk)
    assert tail.text() == "4\n5\n6"
    assert (tail.lines_seen, tail.bytes_seen) == (6, 12)


def test_a_chunk_with_more_lines_than_kept_is_cut_before_splitting() -> None:
    tail = TailBuffer(max_lines=2)
    tail.feed(b"partial-")
    tail.feed(b"end\n" + b"".join(b"line %d\n" % i for i in range(100_000)) + b"open")
    assert tail.lines() == [b"line 99998", b"line 99999", b"open"][-2:]
    assert tail.lines_seen == 100_001


def test_streams_keep_their_own_unfinished_line() -> None:
    tail = TailBuffer(max_lines=10)
    tail.feed(b"out-a", "stdout")
    tail.feed(b"err-a\n", "stderr")
    tail.feed(b"out-b\n", "stdout")
    assert tail.text() == "err-a\nout-aout-b"


def test_a_long_line_is_cut_with_a_marker_and_the_total_is_capped() -> None:
    tail = TailBuffer(max_lines=50, line_bytes=100)
    tail.feed(b"x" * 1000 + b"\n")
    assert tail.lines() == [b"x" * 100 + b" [... 900 bytes cut]"]
    big = TailBuffer(max_lines=10000)
    for _ in range(200):
        big.feed(b"y" * 8000 + b"\n")
    kept = big.lines()
    assert sum(len(line) + 1 for line in kept) <= MAX_TAIL_BYTES
    assert len(kept) >= 10


def test_an_unfinished_line_without_end_is_capped_too() -> None:
    tail = TailBuffer(max_lines=5, line_bytes=64)
    for _ in range(1000):
        tail.feed(b"z" * 1000)
    [line] = tail.lines()
    assert line == b"z" * 64 + b" [... 999936 bytes cut]"


def test_marks_and_bad_bytes() -> None:
    tail = TailBuffer(max_lines=5)
    tail.feed(b"caf\xc3\xa9 \xff")
    tail.mark("--- attempt 1 of 2 failed ---")
    assert tail.text() == "café \ufffd\n--- attempt 1 of 2 failed ---"
