# Each rule's params from the config: exactly the keys of the step that owns them
# (regeo.rule_params), so that changing another step's key reruns nothing.
from regeo import rule_params


def probability_params():
    return rule_params.probability_params(config)


def labeling_params():
    return rule_params.labeling_params(config)


def subset_params():
    return rule_params.subset_params(config)


SUBSET_SHARES = rule_params.subset_shares(config)


def tokenizer_params():
    return rule_params.tokenizer_params(config)


def train_params(run):
    return rule_params.train_params(config, RUNS[run], run)


def steering_params(source, target):
    """One pair's steering values: the section's, with the pair's own settings over them."""
    return rule_params.steering_params(config, source, target)


def steering_judge_params(source, target):
    """One pair's judge values: steering.judge and the steering keys it shares."""
    return rule_params.steering_judge_params(config, source, target)


def steering_judge_classifier_params():
    return rule_params.steering_judge_classifier_params(config)


def harness_task_params():
    return rule_params.harness_task_params(config)


def harness_params():
    return rule_params.harness_params(config)
