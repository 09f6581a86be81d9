"""Training and evaluation as typed configs (the seed's ``training.jobs.create`` / ``evaluation.jobs.create``) run
as today's recipe jobs: validation, the recipe args, the older SDK's inputs (compared with its captures), what the
SDK sends for the same job, and the jobs on the emulator (model artifact, evaluation results, progress, cancel)."""

from collections.abc import Iterator

import pytest
from adaptive_sdk import Adaptive
from pydantic import ValidationError

from dagster_labeling import WaitOptions
from dagster_labeling._core import JobState
from dagster_labeling.adaptive import AdaptiveClient, AdaptiveNotFound
from dagster_labeling.adaptive.training import (
    CompletionsSource,
    CustomGuidelines,
    DatasetSource,
    EvaluationConfig,
    TrainingConfig,
    evaluation_scores,
    trained_model,
)
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN, GEMMA = "llama-3.1-8b-instruct", "qwen-2.5-7b", "gemma-3-4b-it"
FAST = WaitOptions(poll_interval_seconds=0.02, timeout_seconds=30)


@pytest.fixture
def ours(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN, GEMMA], default=LLAMA)
    adaptive_emulator.state.job_pending_seconds, adaptive_emulator.state.job_run_seconds = 0.0, 0.3
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        yield client


def test_configs_refuse_what_the_method_cannot_take() -> None:
    data = DatasetSource(dataset="reviewed")
    for bad in (dict(alignment_method="SFT", feedback_key="acceptance"),  # SFT has no objective
                dict(alignment_method="PPO"), dict(alignment_method="GRPO"), dict(alignment_method="DPO"),
                dict(alignment_method="DPO", feedback_key="pref", feedback_type="metric"),
                dict(alignment_method="PPO", feedback_key="acceptance", feedback_type="preference"),
                dict(alignment_method="RLHF", feedback_key="acceptance"), dict(unknown_field=1)):
        with pytest.raises(ValidationError):
            TrainingConfig(model=LLAMA, data=data, **bad)
    with pytest.raises(ValidationError):
        TrainingConfig(model=LLAMA, data=data, hyperparameters={"learning_rate": 0})
    with pytest.raises(ValidationError):
        EvaluationConfig(models=[LLAMA], judge_model=QWEN, method="custom", data=data)  # no guidelines
    with pytest.raises(ValidationError):
        EvaluationConfig(models=[LLAMA], judge_model=QWEN, data=data,
                         custom=CustomGuidelines(guidelines=["Be kind"], metric="kindness"))  # not custom
    with pytest.raises(ValidationError):
        EvaluationConfig(models=[], judge_model=QWEN, data=data)
    with pytest.raises(ValidationError):
        EvaluationConfig(models=[LLAMA, LLAMA], judge_model=QWEN, data=data)


def test_recipe_args_of_each_method() -> None:
    grpo = TrainingConfig(model=LLAMA, data=CompletionsSource(max_samples=500), alignment_method="GRPO",
                          feedback_key="acceptance", parameter_efficient=False, output_model_key="support-grpo",
                          hyperparameters={"learning_rate": 2e-5, "num_epochs": 3}, extra_args={"kl_beta": 0.1})
    assert grpo.recipe_key() == "grpo"
    assert grpo.to_recipe_args() == {
        "model": LLAMA, "alignment_method": "GRPO", "parameter_efficient": False,
        "completions": {"selection": "ALL", "max_samples": 500}, "learning_rate": 2e-5, "num_epochs": 3,
        "batch_size": 32, "num_validations": 10, "output_model_key": "support-grpo", "feedback_type": "metric",
        "feedback_key": "acceptance", "kl_beta": 0.1}
    dpo = TrainingConfig(model=LLAMA, data=DatasetSource(dataset="prefs"), alignment_method="DPO",
                         feedback_key="preference", recipe="my-dpo")
    assert dpo.recipe_key() == "my-dpo" and dpo.to_recipe_args()["feedback_type"] == "preference"
    custom = EvaluationConfig(models=[LLAMA, QWEN], judge_model=GEMMA, method="custom",
                              data=DatasetSource(dataset="faq"),
                              custom=CustomGuidelines(guidelines=["Cites the policy"], metric="policy"))
    assert custom.recipe_key() == "ai-judge-eval"
    assert custom.to_recipe_args() == {"models": [LLAMA, QWEN], "judge_model": GEMMA, "method": "custom",
                                       "metric": "policy", "guidelines": ["Cites the policy"], "dataset": "faq"}


# The inputs the older SDK (0.1.1) sent for the seed's calls, as captured against a fake server
# (shared/api/captures/adaptive-legacy.jsonl, records "training.jobs.create (SFT)", "(PPO, metric objective)",
# "evaluation.jobs.create").
LEGACY_SFT = {'model': 'model-a',
             'useCase': 'my-use-case',
             'name': 'sft-1',
             'config': {'outputName': 'model-a-sft',
                        'sampleConfig': {'feedbackType': None, 'datasource': {'dataset': {'dataset': 'ds-small'}}},
                        'trainingConfig': {'baseTrainingParams': {'learningRate': 1e-05,
                                                                  'numEpochs': 1,
                                                                  'batchSize': 32,
                                                                  'numValidations': 10},
                                           'trainingMetadata': {'trainingType': 'PARAMETER_EFFICIENT',
                                                                'alignmentMethod': 'SFT',
                                                                'parameters': None},
                                           'trainingObjective': {'sft': {}}}},
             'computePool': None,
             'wait': False}
LEGACY_PPO = {'model': 'model-a',
             'useCase': 'my-use-case',
             'name': None,
             'config': {'outputName': 'model-a-11-23-2026-17-59-57',
                        'sampleConfig': {'feedbackType': 'DIRECT',
                                         'datasource': {'completions': {'selectionType': 'ALL', 'maxSamples': 100}}},
                        'trainingConfig': {'baseTrainingParams': {'learningRate': 1e-05,
                                                                  'numEpochs': 1,
                                                                  'batchSize': 32,
                                                                  'numValidations': 10},
                                           'trainingMetadata': {'trainingType': 'PARAMETER_EFFICIENT',
                                                                'alignmentMethod': 'PPO',
                                                                'parameters': None},
                                           'trainingObjective': {'metric': {'metricKey': 'acceptance'}}}},
             'computePool': None,
             'wait': False}
LEGACY_EVALUATION = {'useCase': 'my-use-case',
                    'name': None,
                    'kind': {'aijudge': {'sampleConfig': {'feedbackType': None,
                                                          'datasource': {'dataset': {'dataset': 'ds-small'}}},
                                         'judge': 'judge',
                                         'recipe': {'answerRelevancy': {}}}},
                    'modelServices': ['model-a', 'model-b'],
                    'modelServicesWithParams': [],
                    'computePool': None}


def test_legacy_inputs_are_what_the_older_sdk_sent() -> None:
    """The seed's calls, as the older SDK (0.1.1) sent them, come out of our configs unchanged: the mapping from
    the seed's arguments to today's recipe args loses nothing."""
    sft = TrainingConfig(model="model-a", data=DatasetSource(dataset="ds-small"), output_model_key="model-a-sft")
    assert sft.legacy_input("my-use-case", "sft-1") == LEGACY_SFT
    ppo = TrainingConfig(model="model-a", data=CompletionsSource(max_samples=100), alignment_method="PPO",
                         feedback_key="acceptance", output_model_key="model-a-11-23-2026-17-59-57")
    assert ppo.legacy_input("my-use-case") == LEGACY_PPO
    evaluation = EvaluationConfig(models=["model-a", "model-b"], judge_model="judge", method="answer_relevancy",
                                  data=DatasetSource(dataset="ds-small"))
    assert evaluation.legacy_input("my-use-case") == LEGACY_EVALUATION


def test_train_sends_what_the_sdk_sends(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    config = TrainingConfig(model=LLAMA, data=DatasetSource(dataset="reviewed"), output_model_key="support-sft")
    sdk = Adaptive(base_url=adaptive_emulator.base_url, api_key=adaptive_emulator.api_key)
    sent = []
    for call in (lambda: sdk.jobs.run(config.recipe_key(), 1, args=config.to_recipe_args(), name="t",
                                      project="support"),
                 lambda: ours.train("support", config, name="t")):
        adaptive_emulator.request_log.clear()
        call()
        [entry] = adaptive_emulator.request_log
        body = entry.json()
        sent.append((entry.path, body["operationName"], body["variables"]))
    sdk.close()
    assert sent[0] == sent[1]
    assert sent[1][1] == "CreateJob" and sent[1][2]["input"]["recipe"] == "sft"


def test_training_job_produces_the_model(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    config = TrainingConfig(model=LLAMA, data=DatasetSource(dataset="reviewed"), output_model_key="support-sft")
    handle = ours.train("support", config, name="support-sft")
    seen: list[tuple[str, int | None]] = []
    while not (status := handle.refresh()).state.is_terminal:  # progress while it runs
        seen.append((status.raw_status or "", status.done))
    assert status.state is JobState.SUCCEEDED and status.done == 100 and status.total == 100
    assert any(raw == "RUNNING" and done is not None and 0 <= done < 100 for raw, done in seen)
    job = ours.get_job(handle.id)
    assert trained_model(job) == "support-sft" and job.args == config.to_recipe_args()
    assert ours.get_model("support-sft").key == "support-sft"  # registered, usable in an A/B test
    assert evaluation_scores(job) == []


def test_evaluation_job_scores_each_model_on_its_metric(ours: AdaptiveClient,
                                                        adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    config = EvaluationConfig(models=[LLAMA, QWEN], judge_model=GEMMA, method="faithfulness",
                              data=DatasetSource(dataset="faq"), recipe="judge")  # no "eval" in the key
    handle = ours.evaluate("support", config)
    assert handle.wait(FAST).state is JobState.SUCCEEDED
    scores = evaluation_scores(ours.get_job(handle.id))
    assert sorted((s.model, s.metric) for s in scores) == [(LLAMA, "faithfulness"), (QWEN, "faithfulness")]
    assert all(0.0 <= s.mean <= 1.0 and s.count for s in scores)
    assert trained_model(ours.get_job(handle.id)) is None

    with pytest.raises(AdaptiveNotFound):  # the judge must exist, as the models must
        ours.evaluate("support", config.model_copy(update={"judge_model": "no-such-judge"}))


def test_training_job_cancel(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.state.job_run_seconds = 3600.0
    handle = ours.train("support", TrainingConfig(model=LLAMA, data=DatasetSource(dataset="reviewed")))
    outcome = handle.cancel()
    assert (outcome.canceled, outcome.state) == (1, JobState.CANCELED)
    assert ours.get_job(handle.id).status == "CANCELED"
