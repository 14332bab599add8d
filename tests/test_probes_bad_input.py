"""Probes refuse what they cannot measure, with a DlverifyError that says what to pass.

A loss cut off from the graph, NaN/inf weights, data or activations, the same
snapshot twice, an unconverged Lanczos run, sizes beyond a limit, and
arguments of the wrong type or range: each is a :class:`ProbeError` (or,
for a loss that turns NaN, :class:`NonFiniteLossError`) before any number is
returned, never a silently wrong value and never a raw ``TypeError`` or
``RuntimeError`` from torch, numpy or scikit-learn.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import dlverify.probes as probes
from dlverify.errors import (
    ConvergenceWarning,
    DlverifyError,
    NonFiniteLossError,
    NotConvergedError,
    ProbeError,
)
from dlverify.probes import (
    cluster_weights,
    grad_norm,
    gradcheck,
    hessian,
    hvp,
    interpolate,
    loss_plane,
    minimal_ratio,
    near_zero_weight_ratio,
    per_layer_grad_norms,
    saturation,
    sensitivity,
    sharpness,
    top_eigenvalue,
    weight_pca,
)

NAN, INF = float("nan"), float("inf")


def network(seed: int = 0) -> nn.Sequential:
    """A 4-5-3 classifier with a sigmoid hidden layer (named ``"1"``), in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 3)).eval()


def batch(seed: int = 0, n: int = 10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def with_weight(value: float, seed: int = 0, where: str = "0.weight") -> nn.Sequential:
    model = network(seed)
    with torch.no_grad():
        model.get_parameter(where).view(-1)[0] = value
    return model


def detached(outputs, targets):
    return F.cross_entropy(outputs.detach(), targets)


def through_item(outputs, targets):
    return torch.tensor(F.cross_entropy(outputs, targets).item())


def through_numpy(outputs, targets):
    return torch.as_tensor(F.cross_entropy(outputs, targets).detach().numpy())


# --- the table of public probes and their valid arguments --------------------------------------


def valid_arguments() -> dict[str, dict]:
    """Every public probe with cheap, valid keyword arguments (fresh objects each call)."""
    x, y = batch()
    model = network()
    p = sum(t.numel() for t in model.parameters())
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(6, 3, generator=g)
    return {
        "grad_norm": dict(model=model, loss_fn=F.cross_entropy, data=(x, y)),
        "per_layer_grad_norms": dict(model=model, loss_fn=F.cross_entropy, data=(x, y)),
        "hvp": dict(
            model=model, loss_fn=F.cross_entropy, data=(x, y), vector=torch.ones(p), params=None
        ),
        "hessian": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            max_params=100,
            chunk_size=16,
            params=None,
        ),
        "top_eigenvalue": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            max_iter=4,
            tol=1e-4,
            generator=g,
            strict=False,
            params=None,
        ),
        "minimal_ratio": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            tol=None,
            dtype=torch.float64,
            max_params=100,
            params=None,
        ),
        "hessian_operator": dict(model=model, loss_fn=F.cross_entropy, data=(x, y), params=None),
        "eigenvalues": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            k=2,
            which="smallest",
            params=None,
            max_iter=4,
            tol=1e-4,
            generator=g,
            strict=False,
        ),
        "hessian_trace": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            n_samples=6,
            method="hutch++",
            params=None,
            generator=g,
        ),
        "spectral_density": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            n_runs=1,
            n_iter=4,
            grid=None,
            sigma=None,
            params=None,
            deflate=True,
            generator=g,
        ),
        "loss_plane": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            directions=None,
            span=0.5,
            steps=3,
            normalization="filter",
            generator=g,
        ),
        "project_trajectory": dict(
            plane=loss_plane(network(), F.cross_entropy, (x, y), steps=2),
            model=network(),
            snapshots=[network(1), network(2)],
        ),
        "filter_normalize": dict(
            direction=[torch.ones(5, 4), torch.ones(5)], weights=[torch.ones(5, 4), torch.ones(5)]
        ),
        "sharpness": dict(
            model=model,
            loss_fn=F.cross_entropy,
            data=(x, y),
            epsilon=1e-3,
            steps=2,
            restarts=1,
            step_size=None,
            generator=g,
        ),
        "interpolate": dict(
            model_a=model,
            model_b=network(1),
            loss_fn=F.cross_entropy,
            data=(x, y),
            alphas=[0.0, 0.5, 1.0],
        ),
        "sensitivity": dict(model=model, inputs=x, softmax=True, chunk_size=4),
        "saturation": dict(model=model, inputs=x, layer="1", margin=0.05),
        "near_zero_weight_ratio": dict(model=model, threshold=0.1),
        "gradcheck": dict(
            fn=lambda a: (a**2).sum(), params=torch.ones(3), eps=1e-6, rel_floor=1e-6
        ),
        "weight_pca": dict(
            snapshots=[np.arange(4.0), np.ones(4), np.zeros(4)], n_components=1, layer=None
        ),
        "cluster_weights": dict(weight_matrix=rows, k=2, seed=0, tsne=False, perplexity=None),
    }


PROBE_NAMES = sorted(valid_arguments())


def test_the_table_covers_every_public_probe_and_every_argument():
    """A new public probe must be added here, so that it is fed bad arguments too."""
    exported = {name for name in probes.__all__ if inspect.isfunction(getattr(probes, name))}
    assert exported == set(PROBE_NAMES)
    for name, kwargs in valid_arguments().items():
        assert set(inspect.signature(getattr(probes, name)).parameters) == set(kwargs), name


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_the_valid_arguments_are_measured(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 4 Lanczos steps
        getattr(probes, name)(**valid_arguments()[name])


# --- bad values: anything at all, and the mistakes people make ---------------------------------


def _junk() -> list:
    """Values that are wrong for most arguments (types, NaN, infinities, negatives, empties)."""
    return [
        None,
        "1",
        b"x",
        2.5,
        -1,
        0,
        True,
        NAN,
        INF,
        -INF,
        1e308,
        [],
        [1, "a"],
        {},
        object(),
        torch.tensor(1.0),
        torch.zeros(3, dtype=torch.complex64),
        torch.full((2, 2), NAN),
        np.array(["a"]),
        lambda *args: None,
        nn.Identity(),
        torch.float16,
        torch.int64,
    ]


def _mistakes() -> dict[str, list[tuple[str, object]]]:
    """Per argument, mistakes people make with it, labelled (see ``MEASURABLE``)."""
    x, y = batch()
    nan_x = x.clone()
    nan_x[2, 1] = NAN
    model = network()
    p = sum(t.numel() for t in model.parameters())
    train_mode = nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.5), nn.Sigmoid(), nn.Linear(5, 3))
    models = [
        ("nan weight", with_weight(NAN)),
        ("inf bias", with_weight(INF, where="2.bias")),
        ("train mode", train_mode),
        ("wrong width", nn.Linear(5, 3).eval()),
        ("frozen", nn.Sequential(nn.Linear(4, 3)).requires_grad_(False)),
    ]
    return {
        "model": models,
        "model_a": models,
        "model_b": [
            ("wider", nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 3)).eval()),
            ("nan weight", with_weight(NAN, seed=1)),
            ("float64", network().double()),
        ],
        "loss_fn": [
            ("detached", detached),
            ("item", through_item),
            ("numpy", through_numpy),
            ("raises", lambda o, t: 1 / 0),
            ("not a mean", lambda o, t: F.cross_entropy(o, t, reduction="none")),
            ("nan", lambda o, t: F.cross_entropy(o, t) * NAN),
            ("one argument", lambda o: o.sum()),
            ("mse on labels", F.mse_loss),
        ],
        "data": [
            ("nan inputs", (nan_x, y)),
            ("rows differ", (x, y[:4])),
            ("wrong width", (torch.randn(10, 5), y)),
            ("float targets", (x, torch.randn(10, 7))),
            ("integer inputs", (x.long(), y)),
            ("a string batch", [(x, y), "batch"]),
            ("no batches", []),
            ("no rows", (x[:0], y[:0])),
            ("inputs only", x),
        ],
        "inputs": [
            ("nan", nan_x),
            ("integer", x.long()),
            ("wrong width", torch.randn(10, 5)),
            ("no rows", torch.zeros(0, 4)),
            ("a list", [[0.0] * 4]),
        ],
        "vector": [
            ("too long", torch.ones(p + 1)),
            ("nan", torch.full((p,), NAN)),
            ("complex", torch.ones(p, dtype=torch.complex64)),
            ("2-D", torch.ones(1, p)),
        ],
        "layer": [
            ("a linear layer", "0"),
            ("no such name", "nope"),
            ("an index", 1),
            ("another module", nn.Tanh()),
        ],
        "alphas": [("nan", [NAN]), ("strings", ["a"]), ("objects", np.array([1, 2], dtype=object))],
        "params": [
            ("a string", [torch.ones(2), "a"]),
            ("integer", torch.ones(3, dtype=torch.long)),
            ("nan", torch.full((3,), NAN)),
        ],
        "fn": [
            ("not scalar", lambda a: a),
            ("item", lambda a: torch.tensor(a.sum().item())),
            ("nan", lambda a: a.log().sum() * NAN),
        ],
        "snapshots": [
            ("same model", [network()] * 3),
            ("one", [np.ones(3)]),
            ("lengths differ", [np.ones(3), np.ones(4)]),
            ("strings", [torch.ones(3), ["a", "b", "c"]]),
        ],
        "weight_matrix": [
            ("1-D", np.zeros(4)),
            ("no rows", np.zeros((0, 3))),
            ("strings", [["a", "b"]]),
            ("complex", torch.ones(2, 2, dtype=torch.complex64)),
        ],
    }


#: (probe, mistake) pairs that are not mistakes for that probe: interpolate and loss_plane take
#: no gradient, near_zero_weight_ratio reads weights only, sensitivity needs no trainable
#: parameter, project_trajectory may place the same snapshot twice.
MEASURABLE = {
    ("interpolate", "detached"),
    ("interpolate", "item"),
    ("interpolate", "numpy"),
    ("loss_plane", "detached"),
    ("loss_plane", "item"),
    ("loss_plane", "numpy"),
    ("near_zero_weight_ratio", "train mode"),
    ("near_zero_weight_ratio", "wrong width"),
    ("sensitivity", "frozen"),
    ("project_trajectory", "same model"),
}


ARGUMENTS = [(name, argument) for name in PROBE_NAMES for argument in valid_arguments()[name]]


def _bad_value(draw_from, argument: str):
    return draw_from(
        st.one_of(
            st.sampled_from(range(len(_junk()))).map(lambda i: _junk()[i]),
            st.sampled_from(range(len(_mistakes().get(argument, [("none", None)])))).map(
                lambda i: _mistakes().get(argument, [("none", None)])[i][1]
            ),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-3, 3),
            st.text(max_size=3),
            st.lists(st.floats(allow_nan=True), max_size=3),
        )
    )


def call_with(name: str, argument: str, value):
    """``name``'s valid arguments with ``argument`` replaced by ``value``; the exception, if any."""
    kwargs = valid_arguments()[name]
    kwargs[argument] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the errors are tested here, not torch's warnings
        try:
            getattr(probes, name)(**kwargs)
        except Exception as error:  # noqa: BLE001 - what is raised is what is tested
            return error
    return None


def assert_refused_properly(error, name, argument, value):
    if error is None:  # a value that happened to be valid (an int for a float, ...)
        return
    assert isinstance(error, DlverifyError), (
        f"{name}({argument}={value!r}) raised a raw {type(error).__name__}: {error}"
    )
    assert str(error).strip(), f"{name}({argument}={value!r}) raised an empty {type(error)}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_public_probe_refuses_bad_arguments_with_a_dlverify_error(data):
    name, argument = data.draw(st.sampled_from(ARGUMENTS), label="probe, argument")
    value = _bad_value(data.draw, argument)
    assert_refused_properly(call_with(name, argument, value), name, argument, value)


@pytest.mark.parametrize("name, argument", ARGUMENTS, ids=[f"{n}-{a}" for n, a in ARGUMENTS])
def test_every_specific_mistake_is_refused_with_a_dlverify_error(name, argument):
    """Each listed mistake, deterministically (the hypothesis test draws only some of them)."""
    for label, value in _mistakes().get(argument, []):
        error = call_with(name, argument, value)
        if (name, label) not in MEASURABLE:
            assert error is not None, f"{name}({argument}={label}) was measured"
        assert_refused_properly(error, name, argument, label)


# --- a loss with no gradient path to the parameters ---------------------------------------------

GRADIENT_PROBES = {
    "grad_norm": lambda loss: grad_norm(network(), loss, batch()),
    "per_layer_grad_norms": lambda loss: per_layer_grad_norms(network(), loss, batch()),
    "hvp": lambda loss: hvp(network(), loss, batch(), torch.ones(43)),
    "hessian": lambda loss: hessian(network(), loss, batch()),
    "top_eigenvalue": lambda loss: top_eigenvalue(network(), loss, batch()),
    "minimal_ratio": lambda loss: minimal_ratio(network(), loss, batch()),
    "sharpness": lambda loss: sharpness(network(), loss, batch(), steps=2, restarts=1),
}


@pytest.mark.parametrize("probe", sorted(GRADIENT_PROBES))
@pytest.mark.parametrize("loss", [detached, through_item])
def test_a_loss_cut_off_from_the_graph_is_refused_not_measured_as_zero(probe, loss):
    """Before: grad_norm 0, top eigenvalue 0 (converged), minimal_ratio 0, sharpness too low."""
    with pytest.raises(ProbeError, match=r"no gradient path .*\.item\(\), \.detach\(\)"):
        GRADIENT_PROBES[probe](loss)


@pytest.mark.parametrize("probe", sorted(GRADIENT_PROBES))
def test_a_loss_through_numpy_is_refused_naming_loss_fn(probe):
    """torch.func cannot hand its tensors to numpy: refused before any gradient is read."""
    with pytest.raises(ProbeError, match=r"loss_fn\(outputs, targets\).* raised RuntimeError"):
        GRADIENT_PROBES[probe](through_numpy)


def test_a_model_that_detaches_its_output_is_refused():
    class Detaching(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x):
            return self.linear(x).detach()

    with pytest.raises(ProbeError, match="no gradient path"):
        grad_norm(Detaching(), F.cross_entropy, batch())


def test_a_loss_that_reaches_only_some_parameters_is_still_measured():
    """Unused parameters have a zero gradient legitimately; only a loss reaching none is refused."""

    class HalfUsed(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(4, 3), nn.Linear(4, 3)

        def forward(self, x):
            return self.used(x)

    model = HalfUsed()
    norms = per_layer_grad_norms(model, F.cross_entropy, batch())
    assert norms["unused.weight"] == 0 and norms["used.weight"] > 0


def test_gradcheck_refuses_a_function_with_no_gradient_path():
    with pytest.raises(ProbeError, match="no gradient path to params"):
        gradcheck(
            lambda a: torch.tensor(float((a**2).sum().detach())), torch.ones(3, dtype=torch.float64)
        )


def test_interpolate_needs_no_gradient_so_a_detached_loss_is_fine_there():
    x, y = batch()
    result = interpolate(network(), network(1), detached, (x, y), [0.0, 1.0])
    with torch.no_grad():
        expected = float(F.cross_entropy(network()(x), y))
    assert result.loss[0] == pytest.approx(expected, rel=1e-6)


# --- NaN and infinities in weights, data and activations ----------------------------------------

MODEL_PROBES = {
    "grad_norm": lambda m: grad_norm(m, F.cross_entropy, batch()),
    "per_layer_grad_norms": lambda m: per_layer_grad_norms(m, F.cross_entropy, batch()),
    "hvp": lambda m: hvp(m, F.cross_entropy, batch(), torch.ones(43)),
    "hessian": lambda m: hessian(m, F.cross_entropy, batch()),
    "top_eigenvalue": lambda m: top_eigenvalue(m, F.cross_entropy, batch()),
    "minimal_ratio": lambda m: minimal_ratio(m, F.cross_entropy, batch()),
    "sharpness": lambda m: sharpness(m, F.cross_entropy, batch(), steps=2, restarts=1),
    "interpolate (model_a)": lambda m: interpolate(m, network(1), F.cross_entropy, batch(), [1.0]),
    "interpolate (model_b)": lambda m: interpolate(network(1), m, F.cross_entropy, batch(), [0.0]),
    "sensitivity": lambda m: sensitivity(m, batch()[0]),
    "saturation": lambda m: saturation(m, batch()[0], "1"),
    "near_zero_weight_ratio": lambda m: near_zero_weight_ratio(m, 0.1),
}


@pytest.mark.parametrize("probe", sorted(MODEL_PROBES))
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_weights_are_refused_by_every_model_probe(probe, value):
    """Before: near_zero_weight_ratio skipped NaN weights (|NaN| < t is false) and gave 0.174."""
    model = with_weight(value, where="2.bias")
    with pytest.raises(ProbeError, match=r"NaN or infinite values in parameter '2\.bias' \(1 of 3"):
        MODEL_PROBES[probe](model)


def test_non_finite_buffers_are_refused_too():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    model[1].running_var[0] = NAN
    with pytest.raises(ProbeError, match="buffer '1.running_var'"):
        grad_norm(model, F.cross_entropy, batch())


@pytest.mark.parametrize("where", ["inputs", "targets"])
def test_non_finite_data_are_refused_naming_the_batch(where):
    x, y = batch()
    x2, y2 = x.clone(), torch.randn(10, 3)
    (x2 if where == "inputs" else y2)[4, 0] = NAN
    with pytest.raises(ProbeError, match=rf"batch 1: {where} hold 1 NaN or infinite value"):
        grad_norm(network(), F.mse_loss, [(x, torch.randn(10, 3)), (x2, y2)])


@pytest.mark.parametrize("probe", [saturation, sensitivity])
def test_non_finite_inputs_are_refused_by_the_input_probes(probe):
    """Before: saturation compared NaN activations with the bounds (always false) and gave 0.0."""
    x = batch()[0]
    x[0, 0] = INF
    args = (network(), x, "1") if probe is saturation else (network(), x)
    with pytest.raises(ProbeError, match=r"inputs hold 1 NaN or infinite value"):
        probe(*args)


def test_saturation_refuses_nan_activations_from_finite_weights_and_inputs():
    """inf − inf inside the network: everything given is finite, the sigmoid's input is NaN."""
    model = nn.Sequential(nn.Linear(1, 2, bias=False), nn.Linear(2, 1, bias=False), nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.fill_(3e38)
        model[1].weight.copy_(torch.tensor([[1.0, -1.0]]))
    with pytest.raises(ProbeError, match=r"layer '2' produced 2 NaN or infinite activation"):
        saturation(model.eval(), torch.tensor([[10.0], [-10.0]]), "2")


def test_a_loss_that_becomes_nan_from_finite_inputs_is_still_a_non_finite_loss_error():
    with pytest.raises(NonFiniteLossError, match="not finite"):
        grad_norm(network(), lambda o, t: F.cross_entropy(o, t) * NAN, batch())


# --- the same snapshot twice --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda m: [m] * 3,
        lambda m: [m.state_dict(), m.state_dict()],  # state_dict() shares the parameters' memory
        lambda m: [m[0].weight.detach()] * 2,
        lambda m: [m[0].weight.detach().numpy()] * 2,
        lambda m: [{"w": m[0].weight.detach().clone()}, m.state_dict(), m.state_dict()],
    ],
    ids=["model", "state_dict", "tensor", "array", "later"],
)
def test_weight_pca_refuses_the_same_weights_twice(make):
    """Before: weight_pca([model] * 3) returned all-zero projections and ratios."""
    with pytest.raises(ProbeError, match=r"snapshots \d and \d are the same weights in memory"):
        weight_pca(make(network()))


def test_weight_pca_accepts_copies_and_the_rows_of_one_matrix():
    model = network()
    copies = []
    for step in range(3):
        with torch.no_grad():
            model[0].weight.add_(0.1 * step)
        copies.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    assert weight_pca(copies).explained_variance_ratio[0] > 0.99
    rows = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    assert weight_pca(list(rows)).projections.shape == (4, 2)
    assert weight_pca(rows).projections.shape == (4, 2)


# --- sizes checked before any copy --------------------------------------------------------------


def test_minimal_ratio_refuses_too_many_parameters_before_copying_the_model(monkeypatch):
    """Before: a float64 deep copy came first (+3 GB and 13 s at 350 M parameters)."""
    copied = []
    monkeypatch.setattr("dlverify.probes.spectrum.copy.deepcopy", lambda *a: copied.append(a))
    model = nn.Linear(100, 60)  # 6060 parameters, above the default 5000
    with pytest.raises(ProbeError, match=r"P = 6060 .*limit of 5000"):
        minimal_ratio(model, F.mse_loss, (torch.randn(3, 100), torch.randn(3, 60)))
    assert copied == []


# --- convergence --------------------------------------------------------------------------------


def test_an_unconverged_top_eigenvalue_warns_by_default_and_raises_when_strict():
    """Before: max_iter=1 returned -0.004 for a true 0.476 with only converged=False."""
    model, data = network(), batch()
    with pytest.warns(ConvergenceWarning, match=r"did not converge in 1 Lanczos step.*max_iter"):
        result = top_eigenvalue(model, F.cross_entropy, data, max_iter=1)
    assert not result.converged
    with pytest.raises(NotConvergedError, match=r"residual .* > tol"):
        top_eigenvalue(model, F.cross_entropy, data, max_iter=1, strict=True)


def test_a_converged_top_eigenvalue_is_silent_even_when_strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = top_eigenvalue(network(), F.cross_entropy, batch(), strict=True)
    assert result.converged


# --- argument types and ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: hessian(network(), F.cross_entropy, batch(), chunk_size=2.5),
            r"chunk_size must be an integer >= 1, got 2\.5 \(float\); pass e\.g\. chunk_size=2",
        ),
        (
            lambda: top_eigenvalue(network(), F.cross_entropy, batch(), max_iter=10.0),
            r"max_iter must be an integer >= 1, got 10\.0 \(float\); pass e\.g\. max_iter=10",
        ),
        (
            lambda: sharpness(network(), F.cross_entropy, batch(), restarts=True),
            r"restarts must be an integer >= 1, got True \(bool\)",
        ),
        (
            lambda: weight_pca([np.ones(3), np.zeros(3)], n_components=1.5),
            r"n_components must be an integer",
        ),
        (lambda: cluster_weights(np.eye(3), k=np.float64(2.0), seed=0), r"k must be an integer"),
        (lambda: cluster_weights(np.eye(3), k=2, seed=-1), r"seed must be >= 0"),
        (
            lambda: sensitivity(network(), batch()[0], chunk_size="8"),
            r"chunk_size must be an integer",
        ),
        (
            lambda: sharpness(network(), F.cross_entropy, batch(), epsilon=INF),
            r"epsilon must be a finite number, got inf",
        ),
        (lambda: near_zero_weight_ratio(network(), "0.1"), r"threshold must be a real number"),
        (
            lambda: minimal_ratio(network(), F.cross_entropy, batch(), tol=NAN),
            r"tol must be a finite",
        ),
        (
            lambda: minimal_ratio(network(), F.cross_entropy, batch(), dtype="float64"),
            r"dtype must be a floating-point torch\.dtype",
        ),
        (
            lambda: top_eigenvalue(network(), F.cross_entropy, batch(), generator=0),
            r"generator must be a torch\.Generator or None.*manual_seed",
        ),
        (
            lambda: sensitivity(network(), batch()[0], softmax="no"),
            r"softmax must be True or False",
        ),
        (
            lambda: grad_norm(network(), "cross_entropy", batch()),
            r"loss_fn must be a function.*cross_entropy",
        ),
        (
            lambda: grad_norm(network().state_dict(), F.cross_entropy, batch()),
            r"model must be a torch\.nn\.Module, got OrderedDict",
        ),
        (
            lambda: interpolate(network(), network(1), F.cross_entropy, batch(), "0.5"),
            r"alphas must be real numbers",
        ),
        (lambda: saturation(network(), batch()[0], 1), r"layer must be a submodule .* or its name"),
        (lambda: weight_pca([np.ones(3), np.zeros(3)], layer=0), r"layer must be a parameter-name"),
        (lambda: gradcheck("sum", torch.ones(3)), r"fn must be a function"),
    ],
)
def test_arguments_of_the_wrong_type_or_range_say_what_to_pass(call, message):
    with pytest.raises(ProbeError, match=message):
        call()


def test_errors_from_the_callers_model_and_loss_say_what_failed_and_keep_the_cause():
    x, y = batch()
    with pytest.raises(ProbeError, match=r"inputs of shape \(10, 5\).*RuntimeError") as info:
        grad_norm(network(), F.cross_entropy, (torch.randn(10, 5), y))
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(
        ProbeError,
        match=r"loss_fn\(outputs, targets\), with targets of shape "
        r"\(10, 7\)",
    ):
        grad_norm(network(), F.cross_entropy, (x, torch.randn(10, 7)))
