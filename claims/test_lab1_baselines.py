"""Claims of the lab1 report, §2: the scikit-learn baselines against softmax regression.

The random forest and the linear SVM of :mod:`claims.lab1_softmax_protocol`
against the 100-epoch RMSprop run, on the Fashion-MNIST test set.
"""

from __future__ import annotations

import pytest
import torch

from claims._checks import chance_accuracy, require_learned
from claims.lab1_softmax_protocol import BATCH_SIZE, REFERENCE
from claims.lab1_softmax_protocol import LR as SOFTMAX_LR
from dlverify import stats
from dlverify.evidence import Finding

FOREST_TREES = 100  # scikit-learn's default (the report uses scikit-learn and names no setting)
SVM_EPOCHS = 20  # averaged SGD on the linear SVM's objective: near its optimum (linear_svm)


def _discordant(better: torch.Tensor, worse: torch.Tensor, truth: torch.Tensor):
    """McNemar's exact test as a proportion: of the test images exactly one model gets right, the share that
    ``better`` gets right, against 1/2 (Clopper–Pearson interval); holds if it is above 1/2."""
    only_better = int(((better == truth) & (worse != truth)).sum())
    only_worse = int(((worse == truth) & (better != truth)).sum())
    return stats.compare_proportion(
        only_better, only_better + only_worse, 0.5, alternative="greater", method="exact"
    )


@pytest.mark.slow  # a 100-tree random forest, a linear SVM and the 100-epoch softmax runs: ~2 min of one core
@pytest.mark.claim(
    "lab1.rf-svm-logreg-order",
    source="lab1 §2 Compare performance with random forest and svm",
    # The documented protocol under both profiles (100 trees, 20 SVM epochs, 100-epoch softmax).
    xfail=Finding(
        "random forest beats the linear SVM, but the linear SVM is not confidently above logistic regression",
        fails=("linear SVM above logistic regression",),
    ),
)
def test_rf_svm_logreg_order(claim, lab1_softmax, fashion_train, fashion_test, profile, device):
    """Test accuracy: random forest 87.64 % > linear SVM 84.64 % > logistic regression 83.88 %.

    All three on the full 60 000 / 10 000 split, under every profile: a
    ``RandomForestClassifier`` (100 trees, scikit-learn's default: the report
    uses scikit-learn and names no setting; about 1 min of one core), a linear SVM (hinge loss, C = 1,
    averaged SGD, 20 epochs: see :func:`claims.lab1_softmax_protocol.linear_svm`)
    and the report's logistic regression, i.e. the reference RMSprop run (trained on
    the first 90 %, as in the report), after its last epoch. One fit each
    (seed 0 for the forest and the SVM, the first seed's softmax model):
    each ordering step is decided on the same 10 000 test images with
    McNemar's exact test (the share of the discordant images the better
    model gets right, Clopper–Pearson 95 %, above 1/2). Wilson intervals of
    each accuracy and the other seeds' softmax accuracies are recorded. All
    three classifiers (every softmax seed) must have learned (test acc ≥
    chance + 0.1). The forest and the SVM are fitted once and kept in the
    run cache, like the softmax runs.

    One look, not the seed plan: the decision reads one fit of each
    classifier, so more softmax seeds could not change it (they would only
    retrain 100-epoch runs and spend the plan's error on looks that see the
    same data). The other softmax seeds recorded are the profile's first
    look (``profile.seeds``).
    """
    forest = lab1_softmax.baseline("forest", n_estimators=FOREST_TREES, seed=0)
    svm = lab1_softmax.baseline("svm", epochs=SVM_EPOCHS, seed=0)
    seeds = profile.seeds
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    with torch.no_grad():
        softmax_predictions = [run.model()(fashion_test.inputs).argmax(1) for run in runs]
    truth = fashion_test.targets
    accuracy = {
        "random forest": float((forest.predictions == truth).double().mean()),
        "linear SVM": float((svm.predictions == truth).double().mean()),
        "logistic regression": float((softmax_predictions[0] == truth).double().mean()),
    }
    wilson = {
        name: stats.proportion_interval(round(acc * len(truth)), len(truth))
        for name, acc in accuracy.items()
    }
    claim.setup(
        random_forest=forest.name,
        linear_svm=svm.name,
        logistic_regression=f"softmax regression, RMSprop lr {SOFTMAX_LR}, batch {BATCH_SIZE}, "
        f"{lab1_softmax.long_epochs} epochs on the first 90 % of the training set",
        test_set="Fashion-MNIST test, 10 000 images",
        softmax_seeds=list(seeds),
    )
    claim.report(random_forest=0.8764, svm=0.8464, logistic_regression=0.8388)
    softmax_accuracies = [float((p == truth).double().mean()) for p in softmax_predictions]
    claim.measure(
        test_accuracy=accuracy,
        wilson_95=wilson,
        logistic_regression_all_seeds=softmax_accuracies,
        fit_seconds={"random forest": forest.fit_seconds, "linear SVM": svm.fit_seconds},
    )
    require_learned(
        claim,
        {
            "random forest": [accuracy["random forest"]],
            "linear SVM": [accuracy["linear SVM"]],
            "logistic regression": softmax_accuracies,
        },
        chance=chance_accuracy(truth),
        metric="test acc",
    )
    claim.expect(
        _discordant(forest.predictions, svm.predictions, truth),
        "random forest above the linear SVM",
    )
    claim.expect(
        _discordant(svm.predictions, softmax_predictions[0], truth),
        "linear SVM above logistic regression",
    )
