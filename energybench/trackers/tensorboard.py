"""TensorBoard: one event-file folder per cell, tensorboard/<method>_s<sharing>_seed<seed>/,
each phase a step. Scalars are written as double-precision tensors with the scalars plugin's
metadata, so TensorBoard plots them and a reader gets metrics.csv's numbers exactly (the
float32 `simple_value` of most writers would round them). Needs only the tensorboard package."""

from __future__ import annotations

import time
from pathlib import Path

from energybench.trackers.base import cell_params, phase_metrics

FOLDER = "tensorboard"
LOGGED = "accuracy/acc_all"  # every phase's row has it: its steps are the phases a cell's folder holds


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, root: Path, params: dict[str, str]):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401  (installed?)

        self.root, self.params = Path(root), params
        self.writers: dict[str, object] = {}
        self.logged: dict[str, set[int]] = {}  # a cell's steps in its folder (a resumed run logs none twice)

    def _folder(self, cell) -> Path:
        return self.root / FOLDER / f"{cell.method}_s{cell.sharing:g}_seed{cell.seed}"

    def _steps(self, cell) -> set[int]:
        """The phases a cell's folder holds already (from an earlier, interrupted run of it)."""
        if cell.label not in self.logged:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

            self.logged[cell.label] = {event.step for path in sorted(self._folder(cell).glob("events.out.tfevents.*"))
                                       for event in EventFileLoader(str(path)).Load()
                                       if any(v.tag == LOGGED for v in event.summary.value)}
        return self.logged[cell.label]

    def _writer(self, cell, manifest: dict):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        label = cell.label
        if label not in self.writers:
            folder = self._folder(cell)
            folder.mkdir(parents=True, exist_ok=True)
            fresh = not any(folder.glob("events.out.tfevents.*"))  # the parameters once, in the first file
            writer = self.writers[label] = EventFileWriter(str(folder))
            if fresh:
                params = {**self.params, **cell_params(cell, manifest)}
                text = "\n".join(f"| {k} | {v} |" for k, v in params.items())
                writer.add_event(_event(0, [_text("parameters", "| parameter | value |\n|---|---|\n" + text)]))
        return self.writers[label]

    def phase(self, cell, row: dict, manifest: dict, last: bool) -> None:
        step = int(row["phase"])
        if step not in self._steps(cell):
            writer = self._writer(cell, manifest)
            writer.add_event(_event(step, [_scalar(k, v) for k, v in phase_metrics(row).items()]))
            writer.flush()
            self.logged[cell.label].add(step)
        if last and cell.label in self.writers:
            self.writers.pop(cell.label).close()

    def finish(self, root: Path, files: list[Path]) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def abort(self, status: str) -> None:
        self.finish(self.root, [])


def _event(step: int, values: list):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Event(wall_time=time.time(), step=step, summary=Summary(value=values))


def _scalar(tag: str, value: float):
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DT_DOUBLE
    from tensorboard.plugins.scalar.metadata import create_summary_metadata

    tensor = TensorProto(dtype=DT_DOUBLE, double_val=[value], tensor_shape=TensorShapeProto())
    return Summary.Value(tag=tag, tensor=tensor, metadata=create_summary_metadata(display_name=tag, description=""))


def _text(tag: str, text: str):
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DT_STRING
    from tensorboard.plugins.text.metadata import create_summary_metadata

    tensor = TensorProto(dtype=DT_STRING, string_val=[text.encode()], tensor_shape=TensorShapeProto())
    return Summary.Value(tag=tag, tensor=tensor, metadata=create_summary_metadata(display_name=tag, description=""))
