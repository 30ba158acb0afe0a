"""Where a recipe's rows come from: loading (Hub, files, ``save_to_disk`` folders, built-ins),
the built-in generated sets, prompt templates, decontamination and dataset converters."""
