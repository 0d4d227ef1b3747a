"""Pretrain the base model of a base config once; later calls print the cached folder.

    python launch/pretrain_base.py --config configs/base_cpu.json

The folder (<cache>/base-<key>: Hugging Face weights, tokenizer, and in pretraining/ the run's
metrics and config) is printed on the last line. Fine-tuning configs name the base config with
`model.base`; launch/reproduce.py builds it first when needed. See mft/base_model.py.
"""
from __future__ import annotations

import sys

from mft.base_model import load_base_config
from mft.experiments.pretrain import ensure_base
from mft.config_loader import ConfigError
from mft.logs import setup_logging
from mft.scripts import fail, script_parser


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__, prog="launch/pretrain_base.py")
    parser.add_argument("--config", required=True, help="base config, e.g. configs/base_cpu.json")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        folder, built = ensure_base(load_base_config(args.config))
    except (ConfigError, RuntimeError) as exc:
        return fail(exc)
    print(f"{'built' if built else 'cached'}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
