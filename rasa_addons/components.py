"""NLU components named in config.yml. Runs inside the Rasa server (.venv-rasa).

TfidfIntentClassifier: normalised text -> TF-IDF word n-grams (Han characters as words)
+ TF-IDF character n-grams within words -> a linear classifier with logistic loss.
It learns in seconds, and its cost grows linearly with the data, not with epochs.
"""

from __future__ import annotations

import logging
from typing import Any

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from rasa_addons.entities import extract
from rasa_addons.normalise import normalise, spaced_han

logger = logging.getLogger(__name__)
MODEL_FILE = "tfidf_intent_classifier.joblib"


def _prepare(text: str) -> str:
    return spaced_han(normalise(text))


def build_pipeline(config: dict[str, Any]) -> Pipeline:
    word = TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, int(config["word_max_ngram"])),
        token_pattern=r"(?u)\b\w+\b",
        sublinear_tf=True,
        max_features=config["max_features"],
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(int(config["char_min_ngram"]), int(config["char_max_ngram"])),
        sublinear_tf=True,
        max_features=config["max_features"],
    )
    clf: Any
    if config["classifier"] == "sgd":
        # Logistic loss by stochastic gradient descent: as accurate as LogisticRegression
        # here, ten times faster to train (docs/nlu.md).
        clf = SGDClassifier(
            loss="log_loss",
            alpha=float(config["alpha"]),
            max_iter=int(config["epochs"]),
            tol=None,
            random_state=int(config["random_seed"]),
        )
    elif config["classifier"] == "logreg":
        clf = LogisticRegression(C=float(config["C"]), max_iter=3000)
    else:
        clf = CalibratedClassifierCV(
            LinearSVC(C=float(config["C"])), cv=int(config["calibration_folds"]), method="sigmoid"
        )
    return Pipeline([("features", FeatureUnion([("word", word), ("chars", chars)])), ("clf", clf)])


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "word_max_ngram": 2,
            "char_min_ngram": 2,
            "char_max_ngram": 5,
            # Caps the vocabulary so that memory and parse time stay flat as data grows.
            "max_features": 200_000,
            "classifier": "sgd",  # sgd | logreg | svm
            "alpha": 1e-5,  # sgd: regularisation
            "epochs": 50,  # sgd: passes over the data
            "random_seed": 0,
            "C": 0.5,  # logreg and svm: inverse regularisation
            "calibration_folds": 3,
            # 0: rank every intent, so that the fallback can always offer two topics.
            "ranking_length": 0,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        pipeline: Pipeline | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._pipeline = pipeline

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            logger.warning("TfidfIntentClassifier needs at least two intents; not trained")
            return self._resource
        pipeline = build_pipeline(self._config)
        # An array, not a list: scikit-learn 1.1's calibration compares labels with ==.
        labels = np.asarray([e.get(INTENT) for e in examples])
        pipeline.fit([_prepare(e.get(TEXT)) for e in examples], labels)
        self._pipeline = pipeline
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(pipeline, directory / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                pipeline = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("TfidfIntentClassifier: no trained model found")
            pipeline = None
        return cls(config, model_storage, resource, pipeline)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._pipeline is None:
            return messages
        texts = [_prepare(m.get(TEXT) or "") for m in messages]
        probabilities = self._pipeline.predict_proba(texts)
        classes = self._pipeline.classes_
        n = int(self._config["ranking_length"]) or len(classes)
        for message, probs in zip(messages, probabilities, strict=False):
            order = np.argsort(-probs)
            ranking = [{"name": str(classes[i]), "confidence": float(probs[i])} for i in order[:n]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class PatternEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Card, passport and ticket numbers and dates, by pattern (rasa_addons/entities.py).

    Not trained: the month names it reads come from locales/<lang>/words.yml at run time
    (EXPATBOT_LOCALES, which the supervisor sets), re-read when they change, so an edit
    needs neither a new model nor a restart.
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PatternEntityExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            found = [
                {
                    "entity": e.entity,
                    "value": e.value,
                    "start": e.start,
                    "end": e.end,
                    "confidence": 1.0,
                    "extractor": self.__class__.__name__,
                }
                for e in extract(message.get(TEXT) or "")
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
