"""kill -9 under load (`zaiban chaos kills`, short): the pipeline's services as separate
processes on the real stack, cases driven through their lifecycle over HTTP, and each
service killed with SIGKILL at a random moment while cases are being driven, and started
again; then routing, tracking and metrics scaled from one copy to three and back under the
same load (`zaiban chaos scale`, short): partitions move between copies twice.

Then (zaiban/chaos/run.py): every case a resident was told "accepted" is in the log once
and in tracking's read model; the figures count each case and each resolution once and
equal what the clients were told; both read models equal a clean replay of the log.
"""

from __future__ import annotations

from pathlib import Path

from faults.chaos import short

from services.common.settings import CommonSettings
from zaiban.chaos.run import PIPELINE
from zaiban.chaos.scenarios import SCENARIOS


async def test_kills_then_scaling_out_and_back_under_load_lose_nothing_and_count_nothing_twice(
        settings: CommonSettings, tmp_path: Path) -> None:
    found = await short("kills+scale", settings, tmp_path)
    kills = [i for i in found.injected if i.fault.startswith("SIGKILL")]
    killed = {i.fault.removeprefix("SIGKILL ") for i in kills}
    assert killed == set(PIPELINE)  # intake and routing among them
    assert all(i.recovered_s is not None for i in found.injected)
    # then routing, tracking and metrics to three copies and back (two rebalances each)
    assert {name for name in found.starts if "-" in name} == {
        f"{service}-{n}" for service in ("routing", "tracking", "metrics") for n in (2, 3)}
    assert found.cases >= SCENARIOS["kills"].short.cases
    assert 0 < found.resolved < found.cases  # the article's share: some stay with the department
