"""The experiments of ``splitinfer bench``: each one a module with ``NAME``, ``TITLE`` and
``run(config, out_dir)``, registered in :data:`splitinfer.experiments.runner.REGISTRY`;
:mod:`~splitinfer.experiments.runner` runs a selection and renders the report."""
