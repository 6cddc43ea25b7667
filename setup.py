from setuptools import find_packages, setup

setup(
    name="finetune_lm",
    version="0.1.0",
    description="GPT-1 fine-tuning (openai/finetune-transformer-lm) on TensorFlow 2",
    packages=find_packages(include=["finetune_lm", "finetune_lm.*"]),
    python_requires=">=3.9",
    install_requires=[
        "tensorflow>=2.16",
        "numpy>=1.23",
        "scikit-learn>=1.0",
        "joblib>=1.0",
        "ftfy>=6.0",
        "spacy>=3.0",
        "tqdm>=4.0",
        "safetensors>=0.4",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3.2", "hypothesis>=6"],
        "plot": ["matplotlib>=3.5"],
    },
)
