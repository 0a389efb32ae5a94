"""Odd entries in the spool directory never block replay (real local server, defaults).

A spool directory is shared with whatever else runs on the machine: an operator
copies a file into it, a directory ends up there, a killed write leaves its
temporary file. The re-sender must skip what is not a spool file (counted in
``stats.spool_skipped``, never deleted), remove the leftover temporary files
(``stats.spool_tmp_removed``) and still send every real batch, oldest first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncexp.aio.collectors import BatchCollector
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolStore
from asyncexp.aio.collectors.wire import analysys_headers, analysys_up_url, encode_analysys
from tests.faults.fault_server import FaultServer

BATCHES = 5
PER_BATCH = 10


def spool_real_batches(store: SpoolStore, url: str) -> None:
    for b in range(BATCHES):
        records = [{"xcontext": {"n": b * PER_BATCH + i}} for i in range(PER_BATCH)]
        body = encode_analysys(records, "gzip")
        store.write(SpoolBatch(analysys_up_url(url), analysys_headers("gzip"), body, 10, True))


def plant_odd_entries(spool: Path) -> dict[str, Path]:
    odd = {
        # a directory whose name looks exactly like one of ours
        "dir": spool / "00000000000000000001-1-000001.batch",
        # files that are not ours: a note, and a .batch that does not match our names
        "note": spool / "README.txt",
        "foreign": spool / "exported.batch",
        # the temporary file of a write that was killed half-way
        "tmp": spool / ".00000000000000000002-1-000002.batch.tmp",
    }
    odd["dir"].mkdir()
    (odd["dir"] / "inside").write_text("not ours either")
    odd["note"].write_text("operator notes")
    odd["foreign"].write_bytes(b'{"v": 1}\nnot a spool file')
    odd["tmp"].write_bytes(b'{"v":1,"url":"http://x/up"')  # partial header
    return odd


async def test_odd_entries_are_skipped_tmp_leftovers_removed_and_every_batch_sent(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool_real_batches(SpoolStore(spool), fault_server.url)
    odd = plant_odd_entries(spool)
    collector = BatchCollector(fault_server.url, spool=spool)
    async with asyncio.timeout(30):
        await collector.start()
        replayer = collector.replayer
        assert replayer is not None
        await replayer.pass_done.wait()  # the start-up pass: sweep, then send
        await collector.aclose()
    stats = collector.stats
    assert stats.replayed == BATCHES * PER_BATCH
    assert set(fault_server.acked) == set(range(BATCHES * PER_BATCH))
    assert max(fault_server.acked.values()) == 1
    assert stats.spool_skipped == 3  # the directory, the note and the foreign .batch
    assert stats.spool_tmp_removed == 1
    assert stats.spool_corrupt == 0  # skipped, not quarantined: they are not ours
    assert not odd["tmp"].exists()
    for key in ("dir", "note", "foreign"):
        assert odd[key].exists(), key  # never deleted
    assert (odd["dir"] / "inside").read_text() == "not ours either"
    assert SpoolStore(spool).pending() == []
    assert fault_server.bad_records == 0


async def test_odd_entries_do_not_stop_a_later_outage_from_being_replayed(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """The odd entries are there while the collector spools during an outage and
    re-sends once the server is back: nothing of its own is lost or stuck."""
    spool = tmp_path / "spool"
    spool.mkdir()
    plant_odd_entries(spool)
    collector = BatchCollector(fault_server.url, spool=spool, probe_base=0.01, probe_max=0.02)
    await collector.start()
    replayer = collector.replayer
    assert replayer is not None
    async with asyncio.timeout(30):
        await replayer.pass_done.wait()
        await fault_server.down()
        for n in range(300):
            collector.submit({"xwhat": "t", "xwho": "u", "xwhen": 1, "xcontext": {"n": n}})
        await collector.flush()  # outage mode: spooled
        assert collector.stats.spooled == 300
        await fault_server.up()
        await fault_server.wait_until(lambda s: len(s.acked) == 300)  # the probes got through
        await collector.aclose()
    assert collector.stats.replayed == 300
    assert collector.stats.spool_skipped == 3
    assert SpoolStore(spool).pending() == []
