"""``c147-<cmd> --help``: what the command does, how it is most often called, the config groups it uses and
where its outputs go, in the same shape for every console script.

The words are :data:`HELP`, one entry a command; the groups and their options are read from the command's
composed config (its defaults list and what that reaches), so the help lists only the groups the command uses,
with its defaults marked. Hydra's ``--cfg job`` (the full config) and ``--hydra-help`` stay Hydra's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Help:
    """One command's help.

    Attributes:
        description: one sentence, the first line.
        paragraph: a few lines on how it works.
        examples: ``(command line, what it does)``, the most used first.
        outputs: where its outputs go.
    """

    description: str
    paragraph: str
    examples: tuple[tuple[str, str], ...]
    outputs: str


HELP = {
    "c147-train": Help(
        "c147-train fits a network on a dataset, tests its best checkpoint and logs the run to TensorBoard.",
        "Each config group below picks one part of the run (GROUP=OPTION); any key of the composed config can be\n"
        "set with KEY=VALUE. impl=torch swaps every hand-written layer, loss and optimizer for its torch twin.",
        (("c147-train", "LeNet-5 on the bundled digits (offline, ~15 s on 2 cores)"),
         ("c147-train model=mlp optim=sgd optim.lr=0.1", "another network and optimizer"),
         ("c147-train trainer.max_epochs=30 model.activation=tanh", "any key of the config"),
         ("c147-train impl=torch", "the same run on torch's built-in twins"),
         ("c147-train debug=fast", "one batch of train, val and test: a smoke run"),
         ("c147-train -m optim=adam,sgd seed=0,1", "a sweep: one run per combination, then a summary table"),
         ("c147-train ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt", "resume an interrupted run")),
        "outputs/train/runs/<time>/: checkpoints/, tensorboard/, metrics.json, train.log (a sweep:\n"
        "outputs/train/multiruns/<time>/<n>/); hydra.run.dir=DIR names the folder, paths.output_root=DIR moves them.",
    ),
    "c147-eval": Help(
        "c147-eval tests a checkpoint written by c147-train, on the data it was trained on or another.",
        "The network, loss and data are rebuilt from the config stored in the checkpoint; data=NAME tests on\n"
        "another dataset.",
        (("c147-eval ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt", "its test accuracy and loss"),
         ("c147-eval ckpt_path=<run>/checkpoints/epoch_014.ckpt trainer=gpu", "the best checkpoint, on a GPU"),
         ("c147-eval ckpt_path=<ckpt> data=mnist", "on another dataset")),
        "outputs/eval/runs/<time>/: metrics.json, eval.log.",
    ),
    "c147-ensemble": Help(
        "c147-ensemble averages the predictions of several c147-train runs and compares the ensemble's test "
        "error with the sheet's formula.",
        "The members' softmax probabilities are averaged on their shared test split; the measured ensemble error\n"
        "is set beside (1/K) v + ((K-1)/K) c from the members' own errors.",
        (("c147-ensemble runs=[outputs/train/runs/A,outputs/train/runs/B]", "these runs as members"),
         ("c147-ensemble multirun=outputs/train/multiruns/<time>", "every job of a c147-train -m sweep"),
         ("c147-ensemble multirun=<sweep> checkpoint=last device=cuda", "the last checkpoints, on a GPU")),
        "outputs/ensemble/runs/<time>/: metrics.json, tensorboard/, ensemble.log.",
    ),
    "c147-summary": Help(
        "c147-summary prints a network's layer table (output sizes, parameters, multiply-adds) from the sheet's "
        "formulas.",
        "Each row is computed from the formulas and checked against a real forward pass; ImageNet input\n"
        "(3x224x224, 1000 classes) by default, where the sheet's parameter counts hold.",
        (("c147-summary model=vgg16", "VGG-16's table: 138M parameters"),
         ("c147-summary model=lenet5 in_channels=1 image_size=32 num_classes=10", "LeNet-5 as in the paper"),
         ("c147-summary model=alexnet impl=c147", "built from the hand-written layers")),
        "the table on the terminal; outputs/summary/runs/<time>/summary.json.",
    ),
    "c147-classic": Help(
        "c147-classic runs the sheet's classical methods (K-nearest neighbours, softmax, SVM, least squares, "
        "bagging) on a dataset's pixels.",
        "The estimators compute on torch tensors, on the same split c147-train uses, so their accuracies compare\n"
        "with the networks'.",
        (("c147-classic task=knn", "K chosen by 5-fold cross-validation, then the test accuracy"),
         ("c147-classic task=svm task.estimator.solver=sgd", "a linear SVM trained by SGD"),
         ("c147-classic task=softmax task.compare_solvers=true", "loss against time of batch, minibatch, SGD"),
         ("c147-classic task=knn data=mnist max_train_samples=10000", "a bigger dataset, capped")),
        "outputs/classic/runs/<time>/: metrics.json, tensorboard/, figures (accuracy_vs_k.png, solvers.png), "
        "classic.log.",
    ),
    "c147-bench": Help(
        "c147-bench times the hand-written pieces against their built-in twins, side by side, as ratios.",
        "Forward and backward of every layer, activation and loss (suite=ops), optimizer steps (suite=optim) and\n"
        "training steps of whole networks (suite=models), best of alternating rounds; the main job as whole\n"
        "processes (suite=e2e).",
        (("c147-bench suite=ops device=cuda families=[conv,pooling]", "two families of ops on a GPU"),
         ("c147-bench suite=optim families=[Adam]", "one optimizer's step"),
         ("c147-bench suite=all compile=true", "everything, torch.compile'd"),
         ("c147-bench suite=e2e", "c147-train as a whole process, impl=c147 vs torch"),
         ("c147-bench size=tiny", "small shapes: a smoke run of every case"),
         ("c147-bench compare=outputs/bench/runs/<time>", "each case's ratio then and now")),
        "outputs/bench/runs/<time>/: results.json, results.csv, ratios.png, tensorboard/.",
    ),
    "c147-study": Help(
        "c147-study runs one study of a claim on the cheat sheet and checks the claim on its own output.",
        "A study trains the runs it needs, draws its figures and records whether the claim holds; reduced=true\n"
        "runs the quick version (fewer steps, epochs and runs).",
        (("c147-study study=optimizer_paths", "SGD ... Adam on an ill-conditioned quadratic (a few seconds)"),
         ("c147-study study=init reduced=true", "weight initializations, the quick version"),
         ("c147-study study=regularization", "none, L2, L1, dropout, early stopping, augmentation, noise")),
        "outputs/study/runs/<time>/: figures/*.png, tensorboard/, runs/<label>/ (its c147-train runs), "
        "metrics.json (claim.holds).",
    ),
    "c147-sheet": Help(
        "c147-sheet checks every claim on the cheat sheet and prints the verdicts.",
        "Each claim has a registered verdict (holds, wrong, convention, ocr) and a check that observes one; the exit\n"
        "status is 0 when every check observes its registered verdict, 1 when one does not, 2 on bad input.",
        (("c147-sheet", "the table and a summary line (counts per verdict)"),
         ("c147-sheet -k lse", "only the claims whose id contains 'lse'"),
         ("c147-sheet --markdown docs/SHEET.md", "also write the table as a markdown document")),
        "the table on the terminal; --markdown PATH writes it as markdown (never over a file it did not write).",
    ),
    "c147-tensorboard": Help(
        "c147-tensorboard serves TensorBoard on 127.0.0.1 over every run in a folder, each under its readable name.",
        "TensorBoard names a run by its folder's path (train/runs/<time>/tensorboard/...), cut in its run list; this\n"
        "serves a view of links instead, <run name> <time>, with the HParams columns people compare listed first.\n"
        "Runs started later join within 10 s; Ctrl-C stops it. The run folders are only read.",
        (("c147-tensorboard", "every run in outputs/, on http://127.0.0.1:6006"),
         ("c147-tensorboard outputs/train/runs 6007", "only c147-train's single runs, on port 6007")),
        "nothing is written; the view is a temporary folder, removed when TensorBoard stops.",
    ),
}

# keys that take one of a few values and are not config groups: shown with the groups
CHOICES = {"c147-study": "study"}


def examples(prog: str) -> str:
    """The examples block: one command a line, its comment aligned."""
    rows = HELP[prog].examples
    width = min(max(len(cmd) for cmd, _ in rows), 56)  # a longer command pushes its comment out
    return "\n".join(f"  {cmd:<{width}}  # {what}" for cmd, what in rows)


def groups_block(choices: dict[str, str | None], config_dirs: tuple[Path, ...] = ()) -> str:
    """``group: option option* ...`` for each group the command's config chose (Hydra's own left out)."""
    from c147.app.argv import group_options

    rows = []
    for group in sorted(g for g in choices if g != "hydra" and not g.startswith("hydra/")):
        default = choices[group]
        options = " ".join(o + ("*" if o == default else "") for o in group_options(group, config_dirs))
        rows.append((group, options + ("" if default else "  (default: none)")))
    width = max((len(g) for g, _ in rows), default=0) + 1
    return "\n".join(f"  {g + ':':<{width}} {o}" for g, o in rows)


def choices_block(prog: str, default: object) -> str:
    """The values of the command's one choice key (``study``), the default marked."""
    from c147.app.studies import STUDIES

    key = CHOICES[prog]
    return f"  {key}: " + " ".join(s + ("*" if s == default else "") for s in STUDIES)


def help_text(prog: str, config_name: str, config_dirs: tuple[Path, ...] = ()) -> str:
    """The ``--help`` of the Hydra console script ``prog`` (its primary config ``config_name``)."""
    from c147.app.argv import compose_check

    cfg = compose_check(config_name, [], config_dirs)
    entry = HELP[prog]
    groups = groups_block(dict(cfg.hydra.runtime.choices), config_dirs)
    parts = [entry.description, "", entry.paragraph, "",
             f"Usage: {prog} [GROUP=OPTION ...] [KEY=VALUE ...]   (-m: a sweep over comma-separated values)", "",
             "Examples:", examples(prog), "",
             "Config groups (GROUP=OPTION, * the default" + ("; GROUP=null turns one off):" if "none)" in groups
                                                               else "):"),
             groups]
    if prog in CHOICES:
        parts.append(choices_block(prog, cfg.get(CHOICES[prog])))
    parts += ["", f"Outputs: {entry.outputs}", "",
              f"{prog} --cfg job shows the full composed config; {prog} --hydra-help shows Hydra's own help."]
    return "\n".join(parts)


def argparse_texts(prog: str, usage: str) -> dict[str, str]:
    """``argparse.ArgumentParser``'s keywords for an argparse console script (``c147-sheet``), in the same
    shape as the others: the sentence first (argparse's own usage line suppressed: ``usage`` follows the
    paragraph), the options, then the examples and the outputs."""
    import argparse

    entry = HELP[prog]
    return {"prog": prog, "usage": argparse.SUPPRESS, "formatter_class": argparse.RawDescriptionHelpFormatter,
            "description": f"{entry.description}\n\n{entry.paragraph}\n\nUsage: {prog} {usage}",
            "epilog": f"Examples:\n{examples(prog)}\n\nOutputs: {entry.outputs}"}
