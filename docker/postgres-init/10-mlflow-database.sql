-- MLflow's tracking store lives in its own database beside Kundresa's.
CREATE DATABASE mlflow;
