"""The data layer's own spec types: the `[data]` sections, validated at the edge, read as attributes inside.

[data]: where the data comes from, what structure its input has, and how it is split.

One model per input kind, chosen by `kind` (a discriminated union; `kind` defaults to "table"). Keys
that mean the same thing have the same name in every kind:

    source        a bundled dataset name (deepsci datasets) or a file path
    test_source   a separate test file (its rows are the test set; the split is "given")
    target        target column(s) / target array name
    task          "auto", "regression", "binary", "multiclass", "multilabel" (several 0/1 target columns,
                  one sigmoid per label), "tagging" (one class per step of a sequence or signal)
    split         "auto", "random", "stratified", "scaffold", "ordered", "column", "given"
    split_column  column of train / valid / test (/ calib) marks
    test_fraction, valid_fraction, calib_fraction
    train_fraction share of the training rows kept for training (the rest unused; valid and test unchanged)
    id_column     column naming each row
    missing       "error" or "drop" (rows with NaN/inf)
    scale_targets standardise regression targets (training rows only)

A `graph` source is a table with a SMILES column (molecules as graphs, deepsci.data.graphs); a `reaction`
source a table with a column of reaction SMILES (graph pairs, deepsci.data.reaction_graphs).
Array sources (.npz/.npy) name their arrays: `x`, `target`, and for given test arrays `test_x`,
`test_target` (any names). Unknown keys are errors, so the resolved config holds only keys that apply.
`multi` is several named inputs from one source (`[data.inputs.<name>]`, each a table, signal, image,
sequence or set part), sharing the source, target, task and split keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from deepsci.errors import ConfigError
from deepsci.section import Section, tagged_union
from deepsci.tasks import TASKS

Task = Literal["auto", "regression", "binary", "multiclass", "multilabel", "tagging"]
SplitName = Literal["auto", "random", "stratified", "scaffold", "ordered", "column", "given"]


class _Common(Section):
    """Keys every kind of data shares.

    Class attributes: `has_steps` (samples have steps that a per-step target can tag), `ordered` (rows are
    windows of one ordered record, not independent samples), `images` (an input may be an image).
    """

    has_steps: ClassVar[bool] = False
    ordered: ClassVar[bool] = False
    images: ClassVar[bool] = False  # an input may be an image (image-only augmentations apply)

    source: str = Field(description="a bundled dataset name (deepsci datasets) or a file path")
    test_source: str | None = Field(None, description="a separate test file; its rows are the test set")
    target: str | list[str] | None = None
    task: Task = "auto"
    id_column: str | None = None
    missing: Literal["error", "drop"] = "error"
    scale_targets: bool = True

    @model_validator(mode="after")
    def _task_fits_kind(self) -> "_Common":
        kind, task = str(getattr(self, "kind", "table")), TASKS.get(self.task)
        if task is not None and task.per_step and not self.has_steps:
            raise ValueError(f"task = 'tagging' (one label per step) needs data.kind = 'sequence' or 'signal'; this "
                             f"data is kind = '{kind}', whose samples have no steps. Use task = 'binary', "
                             "'multiclass' or 'multilabel' for one label per sample")
        if task is not None and task.multilabel and self.ordered:
            raise ValueError(f"task = 'multilabel' needs independent rows with several 0/1 target columns; "
                             f"data.kind = '{kind}' is an ordered record. Remove data.task")
        return self


class _RowSplit(_Common):
    """Split keys of kinds whose rows are independent samples (everything but series and text)."""

    split: SplitName = "auto"
    split_column: str | None = None
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    calib_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="share of training rows held out for "
                                  "conformal calibration (disjoint from valid)")
    train_fraction: float = Field(1.0, gt=0.0, le=1.0, description="share of the training rows kept for training "
                                  "(seeded, stratified by class), after valid and calib are carved; valid and test "
                                  "rows unchanged (learning curves, data efficiency)")

    def _test_arrays(self) -> bool:
        """True when test arrays are named (given test rows inside the source)."""
        return getattr(self, "test_x", None) is not None

    @model_validator(mode="after")
    def _split_needs(self) -> "_RowSplit":
        if self.split == "given" and self.test_source is None and not self._test_arrays() \
                and self.split_column is None:
            raise ValueError("split = 'given' needs the test rows: set test_source (a test file), test_x (test "
                             "arrays) or split_column")
        return self


class TableData(_RowSplit):
    """Rows of numeric columns and/or molecules (a SMILES column featurised with RDKit)."""

    kind: Literal["table"] = "table"
    features: list[str] | None = None
    smiles_column: str | None = None
    featuriser: Literal["descriptors", "morgan", "descriptors+morgan", "reaction", "none"] = Field(
        "descriptors", description="what a SMILES column becomes; 'reaction': the difference fingerprint of a "
                                   "column of reaction SMILES (deepsci.data.reactions)")
    morgan_radius: int = Field(2, ge=0, le=6)
    morgan_bits: int = Field(2048, ge=64, le=65536)
    scale_features: bool = True
    stream: bool = Field(False, description="read a Parquet or .npy table from disk in blocks instead of into "
                                            "memory (data larger than memory; deepsci.data.stream)")
    x: str | int | None = Field(None, description="the table inside a container file: an HDF5 path (compound dataset "
                                                  "or group of 1-D datasets), a FITS HDU name or index, an Excel "
                                                  "sheet name or index (default: the file's only/first table)")


class GraphData(_RowSplit):
    """Molecules as graphs (atoms, bonds; deepsci.data.graphs) from a SMILES column, for message passing.

    `descriptors` joins a vector of RDKit features per molecule at the network's readout ("none" for the
    graph alone). `split = "scaffold"` puts molecules sharing a Bemis-Murcko scaffold in the same part.
    """

    kind: Literal["graph"] = "graph"
    smiles_column: str | None = Field(None, description="the SMILES column (default: the catalog's, or 'smiles')")
    descriptors: Literal["none", "descriptors", "morgan", "descriptors+morgan"] = Field(
        "none", description="RDKit features per molecule joined at the readout")
    atom_features: Literal["chemprop", "chemprop+contribs"] = Field(
        "chemprop", description="atom features: chemprop's set, or it plus each atom's Crippen logP/MR, TPSA, "
                                "Labute ASA and Gasteiger charge contributions (deepsci.data.graphs)")
    descriptor_scale: Literal["standard", "rank-gauss"] = Field(
        "standard", description="the joined descriptors standardised, or through their training CDF to a "
                                "standard normal (deepsci.data.graphs.rank_gauss)")
    morgan_radius: int = Field(2, ge=0, le=6)
    morgan_bits: int = Field(2048, ge=64, le=65536)


class ReactionData(_RowSplit):
    """Chemical reactions as graph pairs (deepsci.data.reaction_graphs): a table with a column of reaction SMILES
    "reactants>>product"; the reactants' and the product's graphs go through one shared encoder. A reaction
    table for a fingerprint model is kind = "table" with featuriser = "reaction" (the difference fingerprint).
    `split = "scaffold"` groups reactions by the Bemis-Murcko scaffold of their product."""

    kind: Literal["reaction"] = "reaction"
    smiles_column: str | None = Field(None, description="the reaction SMILES column (default: the catalog's, or "
                                                        "'reaction')")
    atom_features: Literal["chemprop", "chemprop+contribs"] = Field(
        "chemprop", description="atom features (deepsci.data.graphs), the same on both sides")


class _Arrays(_RowSplit):
    """Array names of an .npz (or .npy) source."""

    x: str = Field("X", description="name of the input array in the .npz")
    test_x: str | None = Field(None, description="name of the test input array (given test rows)")
    test_target: str | None = Field(None, description="name of the test target array")


class SignalData(_Arrays):
    """1-D signals (n, C, L): arrays (n, L) are one channel; or a CSV of one row per sample."""

    has_steps: ClassVar[bool] = True
    kind: Literal["signal"] = "signal"
    features: list[str] | None = Field(None, description="CSV: the columns holding the L values, in order")
    scale: Literal["standard", "per-series", "unit", "none"] = Field(
        "standard", description="'standard' per channel over the training rows; 'per-series' z-normalises each "
                                "series (each channel over its own steps), the usual practice for classifying shapes")
    valid_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] | Literal["auto"] = Field(  # type: ignore[assignment]
        "auto", description="'auto': chosen from the data size (deepsci.data.validation): no validation rows on "
                            "small sets, which train a fixed budget on every training row")
    lengths: str | None = Field(None, description="variable length: the (n,) array (.npz) or column (CSV) of each "
                                                  "series' length; without it, NaN after a series' end is padding")
    truncate: bool = Field(False, description="variable length: cut a series longer than every training series to "
                                              "the training length (else it is refused)")


class ImageData(_Arrays):
    """Images (n, C, H, W) or volumes (n, C, D, H, W): arrays (.npz, HDF5 datasets, FITS image HDUs), an image
    folder with one subfolder per class or a labels CSV, or 'digits'."""

    images: ClassVar[bool] = True
    kind: Literal["image"] = "image"
    labels: str | None = Field(None, description="labels CSV of an image folder (columns file, label), or "
                                                 "the labels (.npy/.csv) of an .npy stack")
    scale: Literal["unit", "standard", "none"] = "unit"


class SequenceData(_Arrays):
    """Symbol sequences (FASTA, a CSV text column) or vector sequences (n, L, d) from an .npz."""

    has_steps: ClassVar[bool] = True
    kind: Literal["sequence"] = "sequence"
    sequence_column: str | None = Field(None, description="CSV column of sequences (default 'sequence')")
    labels: str | None = Field(None, description="labels CSV of a FASTA file (columns id and the target)")
    alphabet: Literal["auto", "dna", "rna", "protein"] = "auto"
    max_length: int | None = Field(None, ge=1)
    truncate: bool = False
    lengths: str | None = Field(None, description=".npz: name of the (n,) array of sequence lengths")
    mask: str | None = Field(None, description=".npz: name of the (n, L) boolean array of real steps")


class SetData(_Arrays):
    """Variable-size sets of d-vectors: .npz (n, S, d) + sizes/mask, or a long CSV (one row per element)."""

    kind: Literal["set"] = "set"
    set_column: str | None = Field(None, description="long CSV: the column naming each element's set")
    features: list[str] | None = Field(None, description="long CSV: the element feature columns")
    sizes: str | None = Field(None, description=".npz: name of the (n,) array of set sizes")
    mask: str | None = Field(None, description=".npz: name of the (n, S) boolean array of real elements")
    test_sizes: str | None = Field(None, description=".npz: the test sets' sizes, with test_x in the same file")
    test_mask: str | None = Field(None, description=".npz: the test sets' mask, with test_x in the same file")
    scale: Literal["standard", "per-set", "none"] = Field(
        "standard", description="standard: each feature standardised over the training elements; per-set: each "
                                "set centred on its centroid and divided by its RMS radius (position and size removed)")


class SeriesData(_Common):
    """Forecasting windows of a record ('co2', 'sunspots', or a CSV with a time column), split in time."""

    ordered: ClassVar[bool] = True
    kind: Literal["series"] = "series"
    time_column: str | None = None
    value_columns: list[str] | None = None
    input_length: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    stride: int = Field(1, ge=1)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_size: int | None = Field(None, ge=1, description="test part in time steps (overrides test_fraction)")
    valid_size: int | None = Field(None, ge=1)
    season: int | None = Field(None, ge=2, description="season length in steps, for the seasonal-naive baseline")
    scale: bool = True
    missing: Literal["error", "interpolate"] = "error"  # type: ignore[assignment]
    duplicates: Literal["error", "mean"] = Field("error", description="repeated time stamps: refuse, or average "
                                                 "their rows")


class TextData(_Common):
    """Next-symbol windows of a UTF-8 text file (a character language model)."""

    ordered: ClassVar[bool] = True
    kind: Literal["text"] = "text"
    seq_length: int = Field(100, ge=2)
    test_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)


class TableInput(Section):
    """One table input of a multi-input dataset: numeric columns of the shared table (`features`), or an
    (n, d) array `x` of an .npz (its columns named by `features`, else x[0], x[1], ...)."""

    kind: Literal["table"] = "table"
    features: list[str] | None = Field(None, description="the input's columns (a table source needs them)")
    x: str | None = Field(None, description=".npz: name of the (n, d) or (n,) array")
    test_x: str | None = Field(None, description=".npz: name of the test array")
    smiles_column: str | None = None
    featuriser: Literal["descriptors", "morgan", "descriptors+morgan", "none"] = "descriptors"
    morgan_radius: int = Field(2, ge=0, le=6)
    morgan_bits: int = Field(2048, ge=64, le=65536)
    scale_features: bool = True


class SignalInput(Section):
    """One signal input (n, C, L): an array `x` of an .npz, or the `features` columns of a table (the L steps)."""

    kind: Literal["signal"] = "signal"
    x: str = "X"
    test_x: str | None = None
    features: list[str] | None = None
    scale: Literal["standard", "per-series", "unit", "none"] = "standard"
    lengths: str | None = None
    truncate: bool = False


class ImageInput(Section):
    """One image input (n, C, H, W[, D]): an array `x` of an .npz."""

    kind: Literal["image"] = "image"
    x: str = "X"
    test_x: str | None = None
    scale: Literal["unit", "standard", "none"] = "unit"


class SequenceInput(Section):
    """One sequence input: a text column of a table (`sequence_column`), or (n, L, d) vectors `x` of an .npz."""

    kind: Literal["sequence"] = "sequence"
    x: str = "X"
    test_x: str | None = None
    sequence_column: str | None = None
    alphabet: Literal["auto", "dna", "rna", "protein"] = "auto"
    max_length: int | None = Field(None, ge=1)
    truncate: bool = False
    lengths: str | None = None
    mask: str | None = None


class SetInput(Section):
    """One set input: (n, S, d) elements `x` of an .npz, cut by `sizes` or `mask`."""

    kind: Literal["set"] = "set"
    x: str = "X"
    test_x: str | None = None
    sizes: str | None = None
    mask: str | None = None
    test_sizes: str | None = None
    test_mask: str | None = None
    scale: Literal["standard", "per-set", "none"] = "standard"


INPUT_MODELS: dict[str, type[Section]] = {"table": TableInput, "signal": SignalInput, "image": ImageInput,
                                          "sequence": SequenceInput, "set": SetInput}
if TYPE_CHECKING:  # the type checker sees the members; pydantic validates the tagged union of the registry
    InputConfig = Union[TableInput, SignalInput, ImageInput, SequenceInput, SetInput]
else:
    InputConfig = tagged_union(INPUT_MODELS, "kind", "table", "input_kind",
                               "an input of data.kind = 'multi' is one of table, signal, image, sequence, set (series "
                               "and text are ordered records and graphs assemble their own batches: they cannot be "
                               "combined)")


class MultiData(_RowSplit):
    """Several named inputs read from one source, rows aligned, one split for all of them.

    Each `[data.inputs.<name>]` is the input's own part of a table/signal/image/sequence/set spec; the
    source, target, task and split keys are shared. An .npz names each input's arrays (`x`, `test_x`);
    a table (CSV/Parquet) gives each input its columns.
    """

    images: ClassVar[bool] = True  # its inputs may include images
    kind: Literal["multi"] = "multi"
    inputs: dict[str, InputConfig] = Field(description="the named inputs: [data.inputs.<name>] per input")
    test_target: str | None = Field(None, description=".npz: name of the test target array")

    @model_validator(mode="after")
    def _inputs_agree(self) -> "MultiData":
        if len(self.inputs) < 2:
            raise ValueError(f"data.kind = 'multi' needs at least two inputs; received {len(self.inputs)}. Add "
                             "[data.inputs.<name>] tables, or use the input's own kind")
        given = [name for name, i in self.inputs.items() if getattr(i, "test_x", None) is not None]
        if given and len(given) != len(self.inputs):
            absent = [n for n in self.inputs if n not in given]
            raise ValueError(f"test arrays are named for input(s) {', '.join(given)} but not for {', '.join(absent)}; "
                             "name test_x for every input or for none")
        return self

    def _test_arrays(self) -> bool:
        return any(getattr(i, "test_x", None) is not None for i in self.inputs.values())


DATA_MODELS: dict[str, type[_Common]] = {"table": TableData, "graph": GraphData, "signal": SignalData, "image": ImageData,
                                         "sequence": SequenceData, "set": SetData, "series": SeriesData,
                                         "text": TextData, "multi": MultiData, "reaction": ReactionData}
KINDS: tuple[str, ...] = tuple(DATA_MODELS)
AnyData = Union[TableData, GraphData, SignalData, ImageData, SequenceData, SetData, SeriesData, TextData, MultiData,
                ReactionData]
if TYPE_CHECKING:
    DataConfig = AnyData
else:
    DataConfig = tagged_union(DATA_MODELS, "kind", "table", "data_kind", f"data.kind must be one of {', '.join(KINDS)}")


def locate(loc: list[str]) -> tuple[list[str], type[Section] | None]:
    """The key path of a pydantic error location inside [data], without the union tags, and the section
    model that holds its last key: ('multi', 'inputs', 'meta', 'table', 'featurs') is the key
    data.inputs.meta.featurs of a TableInput."""
    parts, path = [str(p) for p in loc], []
    section: type[Section] | None = None
    if parts and parts[0] in DATA_MODELS:
        section = DATA_MODELS[parts.pop(0)]
    while parts:
        path.append(parts.pop(0))
        if path[-2:-1] == ["inputs"] and parts and parts[0] in INPUT_MODELS:
            section = INPUT_MODELS[parts.pop(0)]
    return path, section


RowData = Union[TableData, GraphData, SignalData, ImageData, SequenceData, SetData, MultiData, ReactionData]
_ADAPTER: TypeAdapter[AnyData] = TypeAdapter(DataConfig)


def data_config(**values: Any) -> AnyData:
    """A validated data section from keyword arguments (kind defaults to "table")."""
    return _ADAPTER.validate_python(values)


def as_spec(value: AnyData | dict[str, Any]) -> AnyData:
    """A data section as a validated spec: a spec passes through; a dict is validated (ConfigError naming
    each bad key). A library caller may give `source` as a DataFrame or a Path: it is kept as given, the
    other keys validated."""
    if isinstance(value, _Common):
        return value  # type: ignore[return-value]
    values = dict(value)
    source = values.get("source")
    kept = source is not None and not isinstance(source, str)
    if kept:
        values["source"] = "<DataFrame>" if hasattr(source, "columns") else str(source)
    try:
        spec = data_config(**values)
    except ValidationError as exc:
        problems = [f"data.{'.'.join(locate([str(p) for p in e['loc']])[0]) or 'kind'}: "
                    f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError("; ".join(problems) + ".") from None
    return spec.model_copy(update={"source": source}) if kept else spec
