"""The pyfunc model of a law, as MLflow's models-from-code loads it: this file is logged with the model and run by
MLflow at load time (no pickled object travels). See :func:`srlaw.integrations.mlflow.log_law`."""

import mlflow

from srlaw.integrations.mlflow import predict_table
from srlaw.predictor.law import Law


class LawModel(mlflow.pyfunc.PythonModel):
    """Loads the logged law folder (verified against its manifest) and predicts a table of sizes."""

    def load_context(self, context):
        self.law = Law.load(context.artifacts["law"])

    def predict(self, context, model_input, params=None):
        return predict_table(self.law, model_input)


mlflow.models.set_model(LawModel())
