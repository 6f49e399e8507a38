#!/usr/bin/env python3
"""Read a run folder's TensorBoard event files with TensorBoard's own reader; print JSON.

The integration test `tests/tensorboard.rs` runs this with the Python of a venv holding the
`tensorboard` package (`.ci/run` makes `.venv-tb/`) and checks what it prints against the
run's metrics.csv and plots:

    .venv-tb/bin/python scripts/tensorboard_read.py runs/tiny-1

Output: {"files": [names], "scalars": {tag: [[step, value, wall_time], ...]},
"images": {tag: [{"step", "width", "height", "png"(hex)}, ...]}}.

TensorBoard's loaders stop quietly at a record whose CRC fails (they take it for one still
being written), which would read as missing points; so every record of every file is first
read with the record reader itself, where a bad sum raises.
"""
import json
import pathlib
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import io_wrapper
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow


def check_records(path):
    """Reads every record of `path`, raising on a bad length or data sum."""
    reader = pywrap_tensorflow.PyRecordReader_New(str(path))
    count = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return count
        count += 1


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} RUN_FOLDER")
    run = pathlib.Path(sys.argv[1])
    # The files TensorBoard itself would take as event files.
    files = sorted(
        p for p in run.iterdir() if io_wrapper.IsSummaryEventsFile(str(p))
    )
    if not files:
        sys.exit(f"{run}: no event files")
    for path in files:
        if check_records(path) == 0:
            sys.exit(f"{path}: no records")
    # 0: keep every event (the default samples scalars and keeps only a few images).
    acc = event_accumulator.EventAccumulator(
        str(run),
        size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0},
    )
    acc.Reload()
    tags = acc.Tags()
    scalars = {
        tag: [[e.step, e.value, e.wall_time] for e in acc.Scalars(tag)]
        for tag in tags[event_accumulator.SCALARS]
    }
    images = {
        tag: [
            {
                "step": e.step,
                "width": e.width,
                "height": e.height,
                "png": e.encoded_image_string.hex(),
            }
            for e in acc.Images(tag)
        ]
        for tag in tags[event_accumulator.IMAGES]
    }
    json.dump(
        {"files": [p.name for p in files], "scalars": scalars, "images": images},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
