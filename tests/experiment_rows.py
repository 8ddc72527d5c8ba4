"""Experiments as the store gives them (resnet_cifar.experiments.store), built from the flat table that
`dvc exp show --csv` prints: the tests of compare write their cases in that familiar shape."""
import io

import pandas as pd

from resnet_cifar.config import param_keys
from resnet_cifar.experiments.store import DONE, Experiment, without_repeated_workspace

# The table's columns that describe the row rather than hold a value.
ROW_COLUMNS = ("Experiment", "rev", "typ", "Created", "parent", "State", "Executor")


def from_exp_show_csv(table: str | pd.DataFrame) -> list[Experiment]:
    """One `Experiment` per row: params.yaml's keys (by the schema) as params, every other value as a metric; DVC's
    "!" (a value it could not read) and blanks as missing; a workspace that repeats another row left out, as the
    store does."""
    frame = pd.read_csv(io.StringIO(table)) if isinstance(table, str) else table
    keys = param_keys()
    found = []
    for record in frame.to_dict("records"):
        values = {k: v for k, v in record.items() if k not in ROW_COLUMNS and not pd.isna(v) and v != "!"}
        values = {k: number_or_text(v) for k, v in values.items()}
        name = record.get("Experiment")
        state = record.get("State")
        found.append(Experiment(
            name=str(name) if isinstance(name, str) and name else str(record["rev"]), rev=str(record["rev"]),
            baseline="main", state=state.lower() if isinstance(state, str) and state != "Success" else DONE,
            params={k: v for k, v in values.items() if k in keys},
            metrics={k: v for k, v in values.items() if k not in keys}))
    return without_repeated_workspace(found)


def number_or_text(value):
    """A number that pandas left as text (its column also held "!") as the number JSON would give."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        return value
