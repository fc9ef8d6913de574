"""`tcir.MappingOptions`: TC's presets, the text form and its round trip, validation,
value semantics, the fluent setters and the mapping to the scheduler's options.

The expected preset values are written out by hand from TC's sources
(`tc/core/mapping_options-inl.h` and `tc/core/cuda/cuda_mapping_options.cc`,
`make*MappingOptions` on top of `makeUnmappedMappingOptions`)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

import tcir
from tcir import MappingOptions, TcError
from tcir.polyhedral import Fusion

# TC's makeUnmappedMappingOptions: generic part, then the CUDA part (TC leaves
# maxSharedMemory, privateDepth and sharedDepth unset; tcir writes 0).
UNMAPPED = {
    "outerScheduleFusionStrategy": "Preserve3Coincident",
    "outerScheduleAllowSkewing": False,
    "outerSchedulePositiveOrthant": True,
    "intraTileScheduleFusionStrategy": "Preserve3Coincident",
    "intraTileScheduleAllowSkewing": False,
    "intraTileSchedulePositiveOrthant": True,
    "fixParametersBeforeScheduling": False,
    "tileImperfectlyNested": False,
    "matchLibraryCalls": False,
    "useSharedMemory": False,
    "usePrivateMemory": False,
    "unrollCopyShared": False,
    "useReadOnlyCache": False,
    "maxSharedMemory": 0,
    "privateDepth": 0,
    "sharedDepth": 0,
    "splitReduction": 0,  # tcir's extensions
    "pipelineShared": False,
}

PRESETS = {
    "naive": dict(tile=(32, 32, 32), mapToThreads=(32, 8), mapToBlocks=(256, 256), unroll=1),
    "single_thread": dict(tile=(1,), mapToThreads=(1,), mapToBlocks=(1,), unroll=1),
    "pointwise": dict(tile=(32, 32, 32), mapToThreads=(32, 4, 4), mapToBlocks=(100, 100, 100), unroll=128),
    "mlp": dict(outerScheduleFusionStrategy="Max", tile=(1,), mapToThreads=(128,), mapToBlocks=(128,), unroll=1),
    "conv": dict(tile=(4, 8, 8, 8), mapToThreads=(4, 16, 4), mapToBlocks=(256, 256, 256), unroll=1),
    "group_conv": dict(tile=(1, 1), mapToThreads=(4, 16, 4), mapToBlocks=(256, 256), unroll=1),
}

NAIVE_TEXT = (
    "outerScheduleFusionStrategy=Preserve3Coincident outerScheduleAllowSkewing=false "
    "outerSchedulePositiveOrthant=true intraTileScheduleFusionStrategy=Preserve3Coincident "
    "intraTileScheduleAllowSkewing=false intraTileSchedulePositiveOrthant=true "
    "fixParametersBeforeScheduling=false tile=32,32,32 unroll=1 tileImperfectlyNested=false "
    "matchLibraryCalls=false mapToThreads=32,8 mapToBlocks=256,256 useSharedMemory=false "
    "usePrivateMemory=false unrollCopyShared=false useReadOnlyCache=false maxSharedMemory=0 "
    "privateDepth=0 sharedDepth=0 splitReduction=0 pipelineShared=false"
)
NAMES = [word.split("=")[0] for word in NAIVE_TEXT.split()]


# Presets and the text form -------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_values_are_tcs(preset):
    assert MappingOptions(preset).as_dict() == {**UNMAPPED, **PRESETS[preset]}


def test_default_is_the_naive_preset():
    assert MappingOptions() == MappingOptions("naive")
    assert set(MappingOptions.PRESETS) == set(PRESETS)


def test_text_form_is_canonical():
    opts = MappingOptions()
    assert str(opts) == NAIVE_TEXT
    assert repr(opts) == f"MappingOptions('{NAIVE_TEXT}')"
    assert list(opts.as_dict()) == NAMES
    assert eval(repr(opts), {"MappingOptions": MappingOptions}) == opts
    assert "tile=4,8,8,8 " in str(MappingOptions("conv"))
    assert " tile= " in str(MappingOptions().tile())


def dim3(limits, max_product):
    sizes = st.lists(st.integers(1, 64), min_size=1, max_size=3)
    return sizes.filter(lambda s: all(v <= m for v, m in zip(s, limits)) and math.prod(s) <= max_product)


@st.composite
def valid_options(draw):
    """Random valid options, set through the fluent setters from a random preset."""
    opts = MappingOptions(draw(st.sampled_from(sorted(PRESETS))))
    fusion = st.sampled_from(["Max", "Preserve3Coincident", "Min"])
    values = {
        "outerScheduleFusionStrategy": fusion, "intraTileScheduleFusionStrategy": fusion,
        "tile": st.lists(st.integers(0, 4096), max_size=6),
        "unroll": st.integers(1, 1 << 20),
        "mapToThreads": dim3((1024, 1024, 64), 1024),
        "mapToBlocks": st.lists(st.integers(1, 65535), min_size=1, max_size=3),
        "maxSharedMemory": st.integers(0, 1 << 20),
        "privateDepth": st.integers(0, 16), "sharedDepth": st.integers(0, 16),
        "splitReduction": st.integers(0, 64),
    }
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        getattr(opts, name)(draw(values.get(name, st.booleans())))
    return opts


@settings(max_examples=examples(200))
@given(valid_options())
def test_text_form_round_trips(opts):
    text = str(opts)
    assert MappingOptions.parse(text) == opts
    assert str(MappingOptions.parse(text)) == text
    assert MappingOptions(text) == opts
    assert eval(repr(opts), {"MappingOptions": MappingOptions}) == opts
    assert "  " not in text and "\n" not in text and ", " not in text


@settings(max_examples=examples(100))
@given(valid_options(), st.data())
def test_parse_takes_any_subset_in_any_order(opts, data):
    words = data.draw(st.permutations(str(opts).split()))
    subset = words[: data.draw(st.integers(0, len(words)))]
    parsed = MappingOptions.parse("\n\t ".join(subset))
    given_names = {word.split("=")[0] for word in subset}
    for name in NAMES:
        assert parsed[name] == (opts if name in given_names else MappingOptions())[name]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_naive(text):
    assert MappingOptions.parse(text) == MappingOptions()
    assert MappingOptions(text) == MappingOptions()


def test_parse_examples():
    opts = MappingOptions.parse("unroll=4  tile=64,0,8\touterScheduleFusionStrategy=Min useSharedMemory=true")
    assert opts["tile"] == (64, 0, 8) and opts["unroll"] == 4
    assert opts["outerScheduleFusionStrategy"] == "Min" and opts["useSharedMemory"] is True
    assert opts["mapToThreads"] == (32, 8)  # from the naive preset
    assert MappingOptions.parse("tile=")["tile"] == ()


# Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, fragments", [
    ("tiel=32", ["unknown mapping option `tiel`", "did you mean `tile`?"]),
    ("outerScheduleFusion=Max", ["did you mean `outerScheduleFusionStrategy`?"]),
    ("zzz=1", ["unknown mapping option `zzz`", "valid: outerScheduleFusionStrategy,", "sharedDepth"]),
    ("tile", ["expected `key=value`", "`tile`"]),
    ("unroll=2 tile=32 unroll=4", ["`unroll` is given twice"]),
    ("unroll=four", ["`unroll`", "`four` is not an integer"]),
    ("unroll=+4", ["`+4` is not an integer"]),
    ("tile=32,,32", ["`tile`", "`32,,32` is not a comma-separated list of integers"]),
    ("tile=32, 32", ["`tile`", "`32,` is not a comma-separated list of integers (without spaces)"]),
    ("tile=32 32", ["expected `key=value`", "got `32`"]),
    ("tile=32,-1", ["`tile`", "sizes must be >= 0, got -1"]),
    ("unroll=0", ["`unroll`", ">= 1, got 0"]),
    ("maxSharedMemory=-1", ["`maxSharedMemory`", ">= 0, got -1"]),
    ("mapToThreads=1,2,3,4", ["`mapToThreads`", "1 to 3 sizes, got 4"]),
    ("mapToBlocks=1,1,1,1", ["`mapToBlocks`", "1 to 3 sizes, got 4"]),
    ("mapToThreads=", ["1 to 3 sizes, got 0"]),
    ("mapToThreads=0", ["sizes must be >= 1, got 0"]),
    ("mapToThreads=64,32", ["64*32 = 2048", "limit of 1024 threads per block"]),
    ("mapToThreads=2048", ["2048 along x", "limit of 1024"]),
    ("mapToThreads=1,1,128", ["128 along z", "limit of 64"]),
    ("mapToBlocks=1,65536", ["65536 along y", "limit of 65535"]),
    ("useSharedMemory=yes", ["`useSharedMemory`", "expected true or false, got `yes`"]),
    ("useSharedMemory=True", ["expected true or false, got `True`"]),
    ("outerScheduleFusionStrategy=max", ["unknown fusion strategy `max`", "Max, Preserve3Coincident, Min"]),
])
def test_bad_text_is_a_clear_error(text, fragments):
    with pytest.raises(TcError) as err:
        MappingOptions.parse(text)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize("call, fragments", [
    (lambda o: o.tile(32, -1), ["`tile`", ">= 0, got -1"]),
    (lambda o: o.tile(1.5), ["`tile`", "expected an integer, got 1.5"]),
    (lambda o: o.tile(True), ["expected an integer, got True"]),
    (lambda o: o.tile("32,x"), ["`32,x` is not a comma-separated list of integers"]),
    (lambda o: o.unroll(0), ["`unroll`", ">= 1, got 0"]),
    (lambda o: o.unroll(2, 3), ["`unroll`", "takes one value, got 2"]),
    (lambda o: o.unroll(), ["takes one value, got 0"]),
    (lambda o: o.unroll("4.0"), ["`4.0` is not an integer"]),
    (lambda o: o.mapToThreads(), ["`mapToThreads`", "1 to 3 sizes, got 0"]),
    (lambda o: o.mapToThreads(1, 2, 3, 4), ["1 to 3 sizes, got 4"]),
    (lambda o: o.mapToThreads(33, 32), ["33*32 = 1056", "1024"]),
    (lambda o: o.mapToBlocks([1, 2, 3, 4]), ["`mapToBlocks`", "1 to 3 sizes, got 4"]),
    (lambda o: o.useSharedMemory(1), ["`useSharedMemory`", "expected True or False, got 1"]),
    (lambda o: o.useSharedMemory("yes"), ["expected true or false, got `yes`"]),
    (lambda o: o.outerScheduleFusionStrategy("Fuse"), ["unknown fusion strategy `Fuse`", "Max, Preserve3Coincident, Min"]),
    (lambda o: o.scheduleFusionStrategy("min"), ["`outerScheduleFusionStrategy`", "unknown fusion strategy `min`"]),
    (lambda o: o["tiles"], ["unknown mapping option `tiles`", "did you mean `tile`?"]),
    (lambda o: MappingOptions("nave"), ["unknown mapping options preset `nave`", "did you mean `naive`?",
                                        "valid: naive, single_thread, pointwise, mlp, conv, group_conv"]),
    (lambda o: MappingOptions("cuda"), ["preset `cuda`", "valid: naive, single_thread"]),
    (lambda o: MappingOptions(None), ["preset name or the text form"]),
    (lambda o: MappingOptions.parse(b"tile=1"), ["must be a string"]),
])
def test_bad_setter_values_are_clear_errors(call, fragments):
    opts = MappingOptions()
    with pytest.raises(TcError) as err:
        call(opts)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert opts == MappingOptions()  # a refused value changes nothing


# Value semantics ----------------------------------------------------------------------


def test_equality_and_hash_are_by_value():
    a, b = MappingOptions().tile(8, 8), MappingOptions("naive").tile([8, 8])
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != MappingOptions() and a != str(a)
    assert len({a, b, MappingOptions()}) == 2
    cache = {a.copy(): "kernel"}
    assert cache[MappingOptions.parse("tile=8,8")] == "kernel"


def test_hash_follows_the_current_values_and_copy_is_independent():
    opts = MappingOptions()
    before, frozen = hash(opts), opts.copy()
    opts.unroll(8)
    assert hash(opts) != before and hash(frozen) == before
    assert frozen == MappingOptions() and frozen["unroll"] == 1
    frozen.tile(1)
    assert opts["tile"] == (32, 32, 32)


def test_as_dict_is_a_snapshot():
    opts = MappingOptions()
    values = opts.as_dict()
    values["unroll"] = 99
    assert opts["unroll"] == 1


def test_options_are_not_assigned_as_attributes():
    with pytest.raises(AttributeError):
        MappingOptions().tile = (1, 2)


# Fluent setters -----------------------------------------------------------------------


def test_setters_chain_and_return_the_same_instance():
    opts = MappingOptions()
    same = (opts.tile(32, 32).mapToThreads(32, 8).mapToBlocks(64).unroll(4)
            .outerScheduleFusionStrategy("Max").fixParametersBeforeScheduling(True)
            .useSharedMemory(True).maxSharedMemory(48 * 1024).privateDepth(3).sharedDepth(2))
    assert same is opts
    assert opts["tile"] == (32, 32) and opts["mapToThreads"] == (32, 8) and opts["mapToBlocks"] == (64,)
    assert opts["unroll"] == 4 and opts["outerScheduleFusionStrategy"] == "Max"
    assert opts["fixParametersBeforeScheduling"] is True and opts["useSharedMemory"] is True
    assert (opts["maxSharedMemory"], opts["privateDepth"], opts["sharedDepth"]) == (49152, 3, 2)
    assert opts["intraTileScheduleFusionStrategy"] == "Preserve3Coincident"


@pytest.mark.parametrize("args", [(32, 0, 8), ([32, 0, 8],), ((32, 0, 8),), ("32,0,8",),
                                  (np.array([32, 0, 8]),), (np.int64(32), 0, np.int32(8))])
def test_tile_takes_values_a_sequence_or_the_text_form(args):
    opts = MappingOptions().tile(*args)
    assert opts["tile"] == (32, 0, 8) and all(type(v) is int for v in opts["tile"])


def test_cuda_sizes_drop_trailing_ones_as_tc_does():
    assert MappingOptions().mapToThreads(32, 1, 1)["mapToThreads"] == (32,)
    assert MappingOptions().mapToThreads(1, 1)["mapToThreads"] == (1,)
    assert MappingOptions().mapToBlocks(1, 4, 1)["mapToBlocks"] == (1, 4)
    assert MappingOptions().mapToThreads(32, 1) == MappingOptions().mapToThreads(32)
    assert MappingOptions().tile(32, 1)["tile"] == (32, 1)  # tiles are not launch sizes


def test_scalar_setters_take_the_text_form_and_enums():
    opts = MappingOptions().unroll("16").useReadOnlyCache("true").outerScheduleFusionStrategy(Fusion.MIN)
    assert opts["unroll"] == 16 and opts["useReadOnlyCache"] is True
    assert opts["outerScheduleFusionStrategy"] == "Min"


def test_schedule_fusion_strategy_sets_both():
    opts = MappingOptions().scheduleFusionStrategy("Max")
    assert opts["outerScheduleFusionStrategy"] == opts["intraTileScheduleFusionStrategy"] == "Max"


def test_setters_have_tcs_names_and_docs():
    assert MappingOptions().tile.__name__ == "tile"
    assert "untiled" in MappingOptions().tile.__doc__


def test_exported_from_tcir():
    assert tcir.MappingOptions is MappingOptions and "MappingOptions" in tcir.__all__
