from setuptools import find_packages, setup

setup(
    name="mft",
    version="0.1.0",
    description="Multi-task fine-tuning of LLMs with CoBa, the Convergence Balancer, on DeepSpeed",
    python_requires=">=3.10",
    packages=find_packages(include=["mft", "mft.*", "data_pipeline", "data_pipeline.*", "eval", "eval.*"]),
    # torch is not pinned: clusters bring their CUDA build; the README's CPU commands pin 2.13.0
    install_requires=[
        "torch>=2.4",
        "deepspeed>=0.16",
        "transformers>=4.51",
        "sentencepiece>=0.2",
        "jsonlines>=4.0",
        "tensorboard>=2.15",
        "numpy>=1.24",
        "tqdm>=4.60",
        "accelerate>=1.0",  # transformers' DeepSpeed integration (HfDeepSpeedConfig): ZeRO-3 partitioned loading
        "peft>=0.15",       # model.lora
    ],
    extras_require={
        "dev": ["pytest>=8", "hypothesis>=6.100", "sacrebleu>=2.3", "matplotlib>=3.7"],
        "eval": ["sacrebleu>=2.3"],  # BLEU; toolchains for HumanEval-X: bash eval/toolchains/install.sh
        "hub": ["datasets>=2.14"],  # --download-benchmarks: HumanEval, HumanEval-X, MBPP from the Hugging Face Hub
        "report": ["matplotlib>=3.7"],  # figures of launch/reproduce.py (mft/experiments/report.py)
        "qlora": ["bitsandbytes>=0.45"],  # model.quantization = "4bit" (CUDA only)
    },
)
