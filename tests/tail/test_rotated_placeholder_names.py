"""A live file saved empty (a placeholder), its lines delivered and not committed at a kill -9, then rotated and
compressed while the agent was down (logrotate `create` + `compress`): its backup is named as the run that read it
named it (copy_names.name_rotated_placeholders), so the replay keeps its ids, only where the content rotated before
it is still there, one rotation number older. Rotated out with it (`rotate 2`, three rotations while down), the
oldest backup left is a later content, which begins with the same header: given the placeholder's name, its lines
took the keys, and ids, of the lines delivered from the placeholder at the same offsets, and a tier deduplicating by
id dropped lines it never had (the guard taken out: 20 lines, 130-149, under the ids of 100-119)."""
from __future__ import annotations

from collections import defaultdict

import pytest

from tests.tail.kill9_replay import ids_by_line, repeat_named, replay_after_rotations_while_down

HEADER = b'{"banner": "app v1"}\n'


@pytest.mark.slow
def test_a_placeholders_content_rotated_and_compressed_with_a_header_keeps_its_ids(tmp_path):
    new_ids, journal = replay_after_rotations_while_down(tmp_path, "create\nrotate 3\ncompress", 2, header=HEADER)
    assert not new_ids or repeat_named(journal), f"{len(new_ids)} lines shipped twice under two ids, no repeat named"


@pytest.mark.slow
def test_the_placeholders_content_rotated_out_gives_its_name_to_no_other(tmp_path):
    replay_after_rotations_while_down(tmp_path, "create\nrotate 2\ncompress", 3, header=HEADER)
    lines_of: dict[str, set] = defaultdict(set)
    for seq, ids in ids_by_line(tmp_path).items():
        for i in ids:
            lines_of[i].add(seq)
    shared = {i: sorted(seqs) for i, seqs in lines_of.items() if len(seqs) > 1}
    assert not shared, f"ids delivered for two different lines: {list(shared.values())[:5]}"
