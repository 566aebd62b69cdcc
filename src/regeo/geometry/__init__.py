"""Geometry of embedding matrices: exact kNN, intrinsic dimension, global similarity, LLE, properties.

Usable without Snakemake; every entry point takes arrays (numpy or torch) and plain parameters.

- :mod:`regeo.geometry.knn`: ``exact_knn`` (blockwise, CPU or CUDA, float64-exact) and ``KNN``
- :mod:`regeo.geometry.mle`: ``LevinaBickelMLE``
- :mod:`regeo.geometry.twonn`: ``TwoNN``
- :mod:`regeo.geometry.local_pca`: ``LocalPCA``
- :mod:`regeo.geometry.id_table`: ``IDConfig``, ``id_table``, ``per_token_ids``, ``id_suite``, ``null_values``
- :mod:`regeo.geometry.nulls`: isotropic and covariance nulls, ``NullCache``
- :mod:`regeo.geometry.intervals`: ``TokenBootstrap`` and the per-estimator token bootstraps
- :mod:`regeo.geometry.lle`: ``barycenter_weights``, ``reconstruction_error``, ``compare_lle``,
  ``compare_lle_both_ways``
- :mod:`regeo.geometry.similarity`: ``cosine_similarity_correlation``, ``linear_cka``,
  ``global_similarity``, ``global_similarity_intervals``
- :mod:`regeo.geometry.properties`: ``property_table`` (anisotropy, IsoScore, partition isotropy,
  rogue dimensions, effective rank, participation ratio, spectral decay, row norms, with nulls and
  intervals), ``property_values`` and one function per property
- :mod:`regeo.geometry.postprocess`: ``standardise`` (Timkey & van Schijndel) and
  ``remove_top_components`` (all-but-the-top), applied before a similarity is read

Every estimator's ``fit(X, knn=None)`` accepts a precomputed :class:`KNN`, so one search at the
largest k serves them all (``KNN.head(k)`` gives the smaller k).
"""
