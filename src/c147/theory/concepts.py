"""Every concept on the cheat sheet (``cheatsheet.md``), in sheet order: where it is, our code, its twin, the
test that proves it, the command that runs it and the study that shows it.

One record per concept. ``code`` is ``path::symbol`` (or a path) in the repository; an empty ``code`` means the
concept is not implemented yet. ``twin`` is the importable reference (torch, torchvision, scikit-learn, or
c147's plain-torch composition where torch has none); ``run`` is one command line. ``docs/concepts.md`` is this
table (``python -m c147.theory.concepts --markdown docs/concepts.md``); ``tests/theory/test_concepts.py`` checks
that every path, test, twin and command exists and that the page is current.

Example:
    >>> from c147.theory.concepts import CONCEPTS
    >>> bn = next(c for c in CONCEPTS if c.name == "batch norm's backward")
    >>> bn.code
    'src/c147/functional/batch_norm.py::BatchNormFunction'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER = ("<!-- written by python -m c147.theory.concepts; rerun "
          "`python -m c147.theory.concepts --markdown docs/concepts.md` to update -->")


@dataclass(frozen=True)
class Concept:
    """One concept of the sheet.

    Attributes:
        line: the sheet line it is on (``cheatsheet.md``, 1-based).
        name: the concept, in a few words.
        cue: text on the sheet within 3 lines of ``line`` (case-insensitive).
        code: ``path::symbol`` or a path of our implementation; empty: not implemented yet.
        twin: the dotted name of the reference it is tested against; empty where the reference is exact math.
        test: ``tests/...py::test_name`` (a parametrized id in brackets allowed).
        run: a command line that runs it.
        study: the ``c147-study`` study that shows it, if any.
        note: what is missing (for a concept not implemented yet) or a short remark.
    """

    line: int
    name: str
    cue: str
    code: str
    twin: str = ""
    test: str = ""
    run: str = ""
    study: str = ""
    note: str = ""

    @property
    def implemented(self) -> bool:
        return bool(self.code)


F, NN, OPT, MOD, CL, AUG, TH = ("src/c147/functional/", "src/c147/nn/", "src/c147/optim/", "src/c147/models/",
                                "src/c147/classic/", "src/c147/data/augment/", "src/c147/theory/")
C = Concept
CONCEPTS: tuple[Concept, ...] = (
    C(7, "L2 regularization (weight decay)", "L2 Regularization", NN + "regularize.py::l2_penalty", "torch.optim.SGD",
      "tests/nn/test_regularize.py::test_sgd_with_l2_penalty_equals_sgd_with_weight_decay",
      "c147-train regularizer=l2", "regularization"),
    C(11, "the L2 update rule (weights shrink)", "leftarrow", OPT + "sgd.py::SGD", "torch.optim.SGD",
      "tests/nn/test_regularize.py::test_sheet_erratum_l2_update_rule",
      "c147-train optim=sgd optim.weight_decay=0.0005"),
    C(15, "K-nearest neighbours", "K-nearest", CL + "knn.py::KNNClassifier",
      "sklearn.neighbors.KNeighborsClassifier", "tests/classic/test_knn.py::test_equals_sklearn_on_digits",
      "c147-classic task=knn"),
    C(16, "distances concentrate in high dimension", "high-D", CL + "knn.py::distance_concentration", "",
      "tests/classic/test_knn.py::test_distance_concentration_shrinks_with_dimension", "c147-sheet -k knn-high-d"),
    C(25, "L2 distance between rows", "L2 dist", CL + "knn.py::pairwise_sq_distances", "torch.cdist",
      "tests/classic/test_knn.py::test_three_ways_agree_up_to_cancellation", "c147-sheet -k knn-distance"),
    C(27, "broadcasting", "Broadcasting", TH + "linalg.py::broadcast_shapes", "torch.broadcast_shapes",
      "tests/theory/test_claims.py::test_claim[broadcast-rule]", "c147-sheet -k broadcast"),
    C(38, "softmax", "softmax", F + "softmax.py::softmax", "torch.nn.functional.softmax",
      "tests/functional/test_softmax.py::test_parity", "c147-train loss=cross_entropy"),
    C(42, "maximum likelihood with log softmax", "log", F + "softmax.py::log_softmax",
      "torch.nn.functional.log_softmax",
      "tests/functional/test_loss.py::test_sheet_erratum_softmax_log_likelihood_derivation",
      "c147-sheet -k softmax-derivation"),
    C(56, "softmax gradient (dL/db, dL/dw)", "partial L", CL + "losses.py::softmax_loss_grad", "",
      "tests/classic/test_losses.py::test_gradient_equals_autograd", "c147-classic task=softmax"),
    C(60, "Frobenius norm", "Frobenius", TH + "linalg.py", "torch.linalg.matrix_norm",
      "tests/theory/test_claims.py::test_claim[frobenius-trace]", "c147-sheet -k frobenius"),
    C(65, "train / validation / test splits", "Validation", "src/c147/data/base.py::seeded_split", "",
      "tests/data/test_builtin_data.py::test_splits_depend_on_the_seed_only", "c147-train data.split_seed=1"),
    C(69, "K-fold cross-validation", "cross-validation", CL + "model_selection.py::KFold",
      "sklearn.model_selection.KFold", "tests/classic/test_model_selection.py::test_kfold_equals_sklearn",
      "c147-classic task=knn"),
    C(74, "derivatives of linear and quadratic forms", "nabla", TH + "calculus.py", "torch.autograd.grad",
      "tests/theory/test_findings.py::test_sheet_erratum_gradient_of_theta_x_is_x", "c147-sheet -k grad-quadratic"),
    C(78, "least squares (normal equations)", "(X^T X)^{-1}", CL + "least_squares.py::least_squares_solve",
      "torch.linalg.lstsq", "tests/classic/test_least_squares.py::test_solve_satisfies_the_normal_equations",
      "c147-classic task=least_squares"),
    C(82, "trace identities", "tr}(ABC)", TH + "calculus.py", "torch.trace",
      "tests/theory/test_claims.py::test_claim[trace-cyclic]", "c147-sheet -k trace"),
    C(86, "backprop through Y = WX", "Y = WX", F + "linear.py::LinearFunction", "torch.nn.functional.linear",
      "tests/functional/test_linear.py::test_gradcheck", "c147-sheet -k grad-w-of-wx"),
    C(106, "eigenvalues, SVD, orthogonal matrices", "U \\Sigma V^T", TH + "linalg.py::svd", "torch.linalg.svd",
      "tests/theory/test_findings.py::test_sheet_erratum_singular_values_are_square_roots_of_eigenvalues",
      "c147-sheet -k svd"),
    C(120, "covariance of an affine map", "cov", TH + "linalg.py::cov_affine", "torch.cov",
      "tests/theory/test_claims.py::test_claim[cov-affine]", "c147-sheet -k cov-affine"),
    C(137, "multiclass SVM hinge loss", "Hinge Loss", F + "loss.py::multi_margin_loss",
      "torch.nn.functional.multi_margin_loss", "tests/functional/test_loss.py::test_multi_margin_loss_parity",
      "c147-train loss=multi_margin"),
    C(138, "linear SVM trained by (sub)gradient descent", "Hinge", CL + "linear.py::LinearSVM", "",
      "tests/classic/test_linear.py::test_binary_svm_on_two_digits", "c147-classic task=svm"),
    C(140, "numerical gradient (gradient check)", "numerical gradient", CL + "grad_check.py::grad_check",
      "torch.autograd.gradcheck", "tests/classic/test_grad_check.py::test_autograd_passes_and_a_wrong_gradient_fails",
      "c147-sheet -k numerical-gradient"),
    C(141, "batch, minibatch and stochastic gradient descent", "Minibatch", CL + "linear.py::compare_solvers", "",
      "tests/classic/test_linear.py::test_compare_solvers_curves_and_plot",
      "c147-classic task=softmax task.compare_solvers=true", "batch_size"),
    C(149, "maxout", "Maxout", F + "maxout.py::maxout", "c147.nn.reference.maxout",
      "tests/functional/test_activation.py::test_maxout_is_the_sheets_max_of_two_affine_maps",
      "c147-train model.activation=maxout"),
    C(155, "mean squared error", "MSE", F + "loss.py::mse_loss", "torch.nn.functional.mse_loss",
      "tests/functional/test_loss.py::test_mse_sheet_convention_half_sum", "c147-train loss=mse"),
    C(157, "binary cross-entropy", "CE", F + "bce.py::binary_cross_entropy_with_logits",
      "torch.nn.functional.binary_cross_entropy_with_logits",
      "tests/functional/test_loss.py::test_binary_cross_entropy_with_logits_parity", "c147-train loss=bce"),
    C(159, "saturated outputs stop learning (MSE on a sigmoid)", "gradient ≈ 0", F + "loss.py::mse_loss", "",
      "tests/functional/test_loss.py::test_sheet_large_z_no_learning_holds_for_mse_not_cross_entropy",
      "c147-sheet -k saturation"),
    C(168, "sigmoid", "Sigmoid", F + "activation.py::sigmoid", "torch.sigmoid",
      "tests/functional/test_activation.py::test_sheet_erratum_sigmoid_sign", "c147-train model.activation=sigmoid"),
    C(176, "tanh", "tanh", F + "activation.py::tanh", "torch.tanh",
      "tests/functional/test_activation.py::test_sheet_erratum_tanh_is_2_sigma_of_2x_minus_1",
      "c147-train model.activation=tanh"),
    C(180, "ReLU", "ReLU", F + "activation.py::relu", "torch.nn.functional.relu",
      "tests/functional/test_activation.py::test_sheet_relu_and_softplus_are_right",
      "c147-train model.activation=relu"),
    C(186, "softplus", "Softplus", F + "activation.py::softplus", "torch.nn.functional.softplus",
      "tests/functional/test_activation.py::test_sheet_relu_and_softplus_are_right",
      "c147-train model.activation=softplus"),
    C(190, "leaky ReLU", "Leaky ReLU", F + "activation.py::leaky_relu", "torch.nn.functional.leaky_relu",
      "tests/functional/test_activation.py::test_sheet_note_leaky_relu_slope",
      "c147-train model.activation=leaky_relu"),
    C(192, "PReLU (a learned slope)", "PReLU", F + "activation.py::prelu", "torch.nn.functional.prelu",
      "tests/theory/test_findings.py::test_sheet_erratum_prelu_learns_alpha", "c147-train model.activation=prelu"),
    C(194, "ELU", "ELU", F + "activation.py::elu", "torch.nn.functional.elu",
      "tests/functional/test_activation.py::test_sheet_erratum_elu_max_form", "c147-train model.activation=elu"),
    C(200, "initialization too small or too large", "too small", NN + "init.py::normal_", "torch.nn.init.normal_",
      "tests/nn/test_init.py::test_sheet_erratum_small_init_does_not_learn_fast", "c147-train model.init=normal_0.01",
      "init"),
    C(202, "Xavier (Glorot) initialization", "Xavier", NN + "init.py::xavier_uniform_",
      "torch.nn.init.xavier_uniform_", "tests/nn/test_init.py::test_sheet_erratum_xavier_uniform_bound",
      "c147-train model.init=xavier_uniform", "init"),
    C(212, "variance of units kept across layers", "w_{ij}", TH + "initialization.py", "",
      "tests/theory/test_claims.py::test_claim[layer-variance]", "c147-sheet -k variance", "init"),
    C(220, "He initialization (for ReLU)", "2015", NN + "init.py::kaiming_uniform_", "torch.nn.init.kaiming_uniform_",
      "tests/theory/test_findings.py::test_sheet_erratum_he_init_for_relu", "c147-train model.init=kaiming_uniform",
      "init"),
    C(226, "cross-entropy", "H(y_p)", F + "cross_entropy.py::cross_entropy", "torch.nn.functional.cross_entropy",
      "tests/functional/test_loss.py::test_cross_entropy_parity", "c147-train loss=cross_entropy"),
    C(248, "early stopping (hand-written)", "Stopping early", "src/c147/lit/early_stopping.py::EarlyStopping",
      "lightning.pytorch.callbacks.EarlyStopping",
      "tests/lit/test_early_stopping.py::test_stops_where_lightnings_early_stopping_does_and_restores_the_best_weights",
      "c147-train callbacks=early_stopping", "regularization"),
    C(252, "norm constraint (max norm)", "norm penalty", NN + "regularize.py::max_norm_", "torch.renorm",
      "tests/nn/test_regularize.py::test_max_norm_matches_torch_renorm", "c147-train regularizer=max_norm"),
    C(260, "L1 regularization", "Omega", NN + "regularize.py::l1_penalty", "",
      "tests/nn/test_regularize.py::test_penalties_match_the_plain_formula_and_its_autograd",
      "c147-train regularizer=l1", "regularization"),
    C(264, "sparse representations (an L1 penalty on activations)", "sparse representations",
      NN + "regularize.py::activity_l1_penalty", "",
      "tests/nn/test_regularize.py::test_activity_penalty_makes_the_hidden_units_sparser",
      "c147-train regularizer=activity_l1", ""),
    C(269, "multi-task learning", "Multi-task", MOD + "multitask.py::MultitaskNet", "",
      "tests/models/test_multitask.py::test_the_weighted_sum_is_the_objective",
      "c147-train model=multitask data.second_label=parity", "multitask"),
    C(271, "transfer learning", "transfer", "src/c147/lit/transfer.py::finetune", "",
      "tests/lit/test_transfer.py::test_features_learned_on_0_4_transfer_to_5_9_and_frozen_weights_stay",
      "c147-study study=transfer reduced=true", "transfer"),
    C(273, "ensembles (average several models)", "ensemble", "src/c147/app/ensemble.py", "",
      "tests/app/test_ensemble.py::test_the_ensemble_beats_its_mean_member_and_the_formula_holds",
      "c147-train -m seed=0,1,2,3,4 data.bootstrap=true", "ensemble"),
    C(281, "batch norm", "unit statistics", NN + "batchnorm.py::BatchNorm1d", "torch.nn.BatchNorm1d",
      "tests/nn/test_dropout_batchnorm.py::test_batchnorm_parity", "c147-train model=mlp model.batch_norm=true",
      "batchnorm"),
    C(291, "minibatch gradient and the SGD step", "theta", OPT + "sgd.py::SGD", "torch.optim.SGD",
      "tests/optim/test_optimizers.py::test_trajectory_matches_torch", "c147-train optim=sgd optim.momentum=0.0",
      "optimizers"),
    C(297, "batch norm's backward", "computational graph", F + "batch_norm.py::BatchNormFunction",
      "torch.nn.functional.batch_norm", "tests/functional/test_batch_norm.py::test_gradcheck_and_gradgradcheck",
      "c147-train model=vgg11_bn", "batchnorm"),
    C(299, "momentum", "Momentum", OPT + "sgd.py::SGD", "torch.optim.SGD",
      "tests/optim/test_sgd.py::test_sheet_momentum_forms_equal_torch", "c147-train optim=sgd optim.momentum=0.9",
      "optimizer_paths"),
    C(311, "Nesterov momentum", "Nesterov", OPT + "sgd.py::SGD", "torch.optim.SGD",
      "tests/optim/test_sgd.py::test_sheet_nesterov_form_equals_torch_nesterov",
      "c147-train optim=sgd optim.nesterov=true", "optimizer_paths"),
    C(320, "Adagrad", "Adagrad", OPT + "adagrad.py::Adagrad", "torch.optim.Adagrad",
      "tests/optim/test_adagrad.py::test_sheet_adagrad_box_equals_adagrad", "c147-train optim=adagrad",
      "optimizer_paths"),
    C(330, "RMSProp", "RMS Prop", OPT + "rmsprop.py::RMSprop", "torch.optim.RMSprop",
      "tests/optim/test_rmsprop.py::test_sheet_rmsprop_form_equals_torch", "c147-train optim=rmsprop",
      "optimizer_paths"),
    C(340, "RMSProp with momentum", "RMS Prop + momentum", OPT + "rmsprop.py::RMSprop", "torch.optim.RMSprop",
      "tests/optim/test_rmsprop.py::test_sheet_rmsprop_momentum_form_equals_torch",
      "c147-train optim=rmsprop optim.momentum=0.9", "optimizer_paths"),
    C(346, "RMSProp with Nesterov momentum (NAdam)", "nesterov", OPT + "nadam.py::NAdam", "torch.optim.NAdam",
      "tests/optim/test_nadam.py::test_nadam_follows_the_docstring_equations", "c147-train optim=nadam", "optimizers",
      "also RMSprop(nesterov=True), c147's extension in the sheet's form: "
      "tests/optim/test_rmsprop.py::test_nesterov_follows_the_sheets_form"),
    C(350, "Adam", "Adams", OPT + "adam.py::Adam", "torch.optim.Adam",
      "tests/optim/test_optimizers.py::test_bit_identical_to_torch_on_cpu", "c147-train optim=adam",
      "optimizer_paths"),
    C(362, "Adam's bias correction", "Bias Correction", OPT + "adam.py::adam", "torch.optim.Adam",
      "tests/optim/test_adam.py::test_sheet_bias_correction_unbiases_both_moments", "c147-sheet -k bias-correction"),
    C(370, "convolution output size (padding, stride)", "Stride", TH + "shapes.py::conv_output_size", "",
      "tests/theory/test_shapes.py::test_conv_formulas_match_the_module",
      "c147-summary model=lenet5 in_channels=1 image_size=32 num_classes=10"),
    C(375, "gradient clipping", "clipping", OPT + "clip.py::clip_grad_norm_", "torch.nn.utils.clip_grad_norm_",
      "tests/optim/test_clip.py::test_sheet_erratum_gradient_clipping", "c147-train clip=norm clip.max_norm=1.0"),
    C(376, "residual connections (the architecture against vanishing gradients)", "vanishing gradient",
      MOD + "resnet.py::ResNet", "torchvision.models.resnet18",
      "tests/models/test_resnet.py::test_gradient_reaches_the_input_through_the_identity_shortcut",
      "c147-train model=resnet18", "depth"),
    C(389, "ensemble error with correlated members", "K-1", TH + "ensembles.py", "",
      "tests/theory/test_claims.py::test_claim[ensemble-correlated]", "c147-sheet -k ensemble", "ensemble"),
    C(393, "flip, scale, rotate, crop", "flip", AUG + "random.py::RandomRotation",
      "torchvision.transforms.v2.functional.rotate", "tests/data/test_augment.py::test_equals_torchvision",
      "c147-train data.augment=[flip,crop,rotate,scale]", "augmentation"),
    C(394, "noise injection", "inject noise", NN + "noise.py::GaussianNoise", "c147.nn.reference.GaussianNoise",
      "tests/nn/test_noise.py::test_noise_equals_its_twin_under_one_seed_and_its_backward_is_the_identity",
      "c147-train model.noise.input=0.1 model.noise.hidden=0.1", "regularization"),
    C(395, "label smoothing", "label smoothing", F + "cross_entropy.py::cross_entropy",
      "torch.nn.functional.cross_entropy", "tests/theory/test_claims.py::test_claim[label-smoothing]",
      "c147-study study=label_smoothing reduced=true", "label_smoothing"),
    C(397, "subsampling", "subsampling", AUG + "functional.py::subsample", "",
      "tests/data/test_augment.py::test_presets_and_names", "c147-train data.augment=[subsample]"),
    C(398, "brightness adjustments", "brightness", AUG + "photometric.py::adjust_brightness",
      "torchvision.transforms.v2.functional.adjust_brightness", "tests/data/test_augment.py::test_equals_torchvision",
      "c147-train data.augment=[brightness]"),
    C(399, "Gaussian blurring", "blurring", AUG + "photometric.py::gaussian_blur",
      "torchvision.transforms.v2.functional.gaussian_blur", "tests/data/test_augment.py::test_equals_torchvision",
      "c147-train data.augment=[blur]"),
    C(401, "bagging (bootstrap aggregation)", "Bagging", CL + "bagging.py::Bagging",
      "sklearn.ensemble.BaggingClassifier",
      "tests/classic/test_bagging.py::test_bagging_beats_the_mean_member_on_noisy_labels",
      "c147-classic task=bagging"),
    C(405, "bootstrap resamples", "replacement", "src/c147/data/base.py::bootstrap_indices", "",
      "tests/data/test_augment.py::test_bootstrap_draws_with_replacement", "c147-train data.bootstrap=true",
      "ensemble"),
    C(418, "dropout", "Dropout", F + "dropout.py::dropout", "torch.nn.functional.dropout",
      "tests/functional/test_dropout.py::test_seeded_parity_cpu", "c147-train model=mlp model.dropout=0.5",
      "regularization"),
    C(430, "SGD's gradient noise against batch GD", "noisier", "src/c147/app/studies/batch_size.py", "",
      "tests/app/studies/test_batch_size.py::test_gradient_noise_falls_as_one_over_the_batch_size",
      "c147-study study=batch_size reduced=true", "batch_size"),
    C(441, "batch norm in training and at test time", "running averages",
      F + "batch_norm.py::batch_norm", "torch.nn.functional.batch_norm",
      "tests/functional/test_batch_norm.py::test_running_stats_are_not_differentiable_and_eval_uses_a_copy",
      "c147-sheet -k bn-train-vs-test"),
    C(475, "momentum as a sum of past gradients", "V_t", TH + "momentum.py", "",
      "tests/optim/test_sgd.py::test_sheet_erratum_momentum_v2_expansion", "c147-sheet -k momentum"),
    C(511, "log-sum-exp and its bounds", "LSE", F + "softmax.py::logsumexp", "torch.logsumexp",
      "tests/functional/test_softmax.py::test_sheet_erratum_lse_bounds", "c147-sheet -k lse"),
    C(569, "choosing K by cross-validation", "cross validation", CL + "model_selection.py::select_k", "",
      "tests/classic/test_model_selection.py::test_select_k_picks_a_k_with_the_best_validation_accuracy",
      "c147-classic task=knn"),
    C(571, "vanishing gradients in saturating activations", "vanishing gradient", TH + "activations.py", "",
      "tests/theory/test_claims.py::test_claim[vanishing-activations]", "c147-sheet -k vanishing", "init"),
    C(597, "learning-rate decay", "Learning rate decay", OPT + "lr_scheduler.py::StepLR",
      "torch.optim.lr_scheduler.StepLR", "tests/optim/test_lr_scheduler.py::test_lr_sequence_matches_torch",
      "c147-train scheduler=step", "lr_decay"),
    C(599, "L1 is sparser than L2", "L1 REGULARIZATION", NN + "regularize.py::Regularizer", "",
      "tests/app/studies/test_regularization.py::test_writes_its_figures_and_its_claim_holds",
      "c147-study study=regularization reduced=true", "regularization"),
    C(609, "Adam's moment statistics", "beta_1", TH + "adam.py", "",
      "tests/optim/test_adam.py::test_sheet_expected_first_moment", "c147-sheet -k adam"),
    C(621, "trainable parameters of a conv layer", "trainable parameters", TH + "shapes.py::conv_params", "",
      "tests/theory/test_shapes.py::test_sheet_five_3x3_filters_on_rgb_have_140_parameters",
      "c147-summary model=vgg16"),
    C(626, "class weights for imbalanced data", "Weight for class", F + "loss.py::class_weights",
      "sklearn.utils.class_weight.compute_class_weight",
      "tests/functional/test_loss.py::test_class_weights_match_sklearn_balanced",
      "c147-train loss.class_weights=balanced", "class_weights"),
    C(628, "the max-over-rows norm penalty", "max_{1", NN + "regularize.py::InfNormPenaltyFunction",
      "torch.linalg.matrix_norm", "tests/nn/test_regularize.py::test_inf_norm_subgradient_splits_ties_equally",
      "c147-train regularizer=inf_norm", ""),
    C(636, "convolution", "convolution", F + "conv.py::Conv2dFunction", "torch.nn.functional.conv2d",
      "tests/functional/test_conv.py::test_gradcheck", "c147-train model=lenet5"),
    C(643, "sparse connectivity and receptive fields", "sparsely connected", TH + "cnn.py", "",
      "tests/theory/test_shapes.py::test_sheet_stacked_3x3_convs_see_7x7_with_fewer_parameters",
      "c147-sheet -k sparse"),
    C(656, "pooling", "pooling", F + "pooling.py::max_pool2d", "torch.nn.functional.max_pool2d",
      "tests/functional/test_pooling.py::test_sheet_erratum_pooling_output_size",
      "c147-summary model=lenet5 in_channels=1 image_size=32 num_classes=10"),
    C(696, "VGG", "VGGnet", MOD + "vgg.py::VGG", "torchvision.models.vgg16",
      "tests/models/test_vgg.py::test_sheet_vgg16_has_138m_parameters", "c147-train model=vgg11"),
    C(707, "GoogLeNet (Inception)", "GoogleNet", MOD + "googlenet.py::GoogLeNet", "torchvision.models.googlenet",
      "tests/models/test_googlenet.py::test_sheet_googlenet_has_no_large_fc_layers_and_about_5m_params",
      "c147-train model=googlenet"),
    C(712, "LeNet-5", "LeNet 5", MOD + "lenet.py::LeNet5", "",
      "tests/models/test_models.py::test_lenet5_has_the_papers_61706_parameters", "c147-train model=lenet5"),
    C(725, "AlexNet", "AlexNet", MOD + "alexnet.py::AlexNet", "torchvision.models.alexnet",
      "tests/models/test_alexnet_zfnet.py::test_torchvision_state_dict_loads_and_gives_the_same_outputs",
      "c147-train model=alexnet"),
    C(728, "overlapping pooling", "overlapping", F + "pooling.py::max_pool2d", "torch.nn.functional.max_pool2d",
      "tests/models/test_alexnet_zfnet.py::test_sheet_erratum_alexnet_pool_is_not_dropout",
      "c147-summary model=alexnet"),
    C(730, "random crops and flips (AlexNet)", "patches", AUG + "random.py::RandomCrop",
      "torchvision.transforms.v2.functional.crop", "tests/data/test_augment.py::test_presets_and_names",
      "c147-train data.augment=alexnet", "augmentation"),
    C(731, "PCA colour augmentation (AlexNet)", "PCs of color", AUG + "lighting.py::Lighting", "",
      "tests/data/test_lighting.py::test_the_shift_covariance_is_alphas_law", "c147-train data.augment=[lighting]",
      "augmentation"),
    C(737, "local response normalization", "NORM", F + "lrn.py::local_response_norm",
      "torch.nn.functional.local_response_norm",
      "tests/functional/test_lrn.py::test_sheet_erratum_norm_is_across_channels_not_a_spatial_kernel",
      "c147-train model=alexnet"),
    C(750, "ZFNet", "zinet", MOD + "zfnet.py::ZFNet", "",
      "tests/models/test_alexnet_zfnet.py::test_parameter_counts", "c147-train model=zfnet"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def summary(concepts: Sequence[Concept] = CONCEPTS) -> str:
    done = sum(c.implemented for c in concepts)
    return f"{len(concepts)} concepts: {done} implemented, {len(concepts) - done} not yet"


def markdown(concepts: Sequence[Concept] = CONCEPTS) -> str:
    """The table as a markdown page (``docs/concepts.md``)."""
    lines = [
        HEADER,
        "# The cheat sheet, concept by concept",
        "",
        "One row per concept on the sheet (`cheatsheet.md`, by line): our code, the twin it is tested against, the "
        "test, a command that runs it, and the study that shows it (`c147-study study=NAME`). The registry is "
        "`src/c147/theory/concepts.py`. The claims on each line, with their verdicts, are in [SHEET.md](SHEET.md); "
        "the sheet's mistakes in [ERRATA.md](ERRATA.md).",
        "",
        f"**{summary(concepts)}**",
        "",
        "| line | concept | our code | twin | test | run | study |",
        "|---:|---|---|---|---|---|---|",
    ]
    for c in concepts:
        code = _code(c.code) if c.implemented else f"**not yet** ({c.note.removeprefix('not yet: ')})"
        lines.append("| " + " | ".join(_cell(x) for x in (
            str(c.line), c.name, code, _code(c.twin), _code(c.test), _code(c.run), c.study)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m c147.theory.concepts",
                                     description="The sheet's concepts and where each lives.")
    parser.add_argument("--markdown", metavar="PATH", type=Path,
                        help="write the table to PATH (a new file, or one this command wrote before)")
    args = parser.parse_args(argv)
    if args.markdown is None:
        sys.stdout.write(markdown())
        return 0
    path = args.markdown
    if path.exists() and path.stat().st_size and path.read_text(encoding="utf-8").split("\n", 1)[0] != HEADER:
        print(f"refusing to write {path}: it exists and this command did not write it", file=sys.stderr)
        return 2
    path.write_text(markdown(), encoding="utf-8")
    print(f"wrote {path}: {summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
