-- i81 published numbers, recomputed from the lake (EXPERIMENT.md §9).
-- Input: `leakscope import ../shared/fixtures` (the i81 per-cell CSV, imported as
-- cell aggregates: one run per source, coherence_flags/<source>, plus the base run).
-- Rates in the lake are fractions; the published table is in percent / percentage points.
-- The 95 zero-filled person rows are imported as missing and excluded (NOT missing).

-- query: self-implant
-- Self-implant rate A2__<s> under the model trained on source s, in percent.
-- Published: person 93.0, chef 92.5, pirate 86.0, child 98.5, robot 95.0.
SELECT split_part(run_id, '/', 2) AS source,
       round(100.0 * found / total, 3) AS self_implant_pct
FROM cells
WHERE experiment = 'leakage_i81' AND question = '' AND NOT missing
  AND persona = 'A2__' || split_part(run_id, '/', 2)
ORDER BY source;
-- ---

-- query: a2-cross-noun
-- Mean cross-noun leak: the plain mean of the 4 non-self A2 rates, in percentage points.
-- Published: person 27.3 (the reviewer's correction: 27.125), chef 37.5, pirate 0.4 (0.375),
-- child 24.5, robot 3.5.
SELECT split_part(run_id, '/', 2) AS source,
       round(100.0 * avg(found / total), 3) AS mean_cross_noun_pp,
       count(*) AS n_cells
FROM cells
WHERE experiment = 'leakage_i81' AND question = '' AND NOT missing AND json_extract_string(factors_json, '$.kind') = 'A2'
  AND run_id <> 'coherence_flags/base_model'
  AND persona <> 'A2__' || split_part(run_id, '/', 2)
GROUP BY source
ORDER BY source;
-- ---

-- query: coherence
-- Coherence judge per source: cells scored, mean of the per-cell judge means, and the
-- number of low-coherence cells (mean < 0.5). The judge scores how in-character a reply
-- is (EXPERIMENT.md §4). Published: person 35 / 0.428 / 23, chef 130 / 0.413 / 89,
-- pirate 130 / 0.444 / 89, child 130 / 0.468 / 79, robot 130 / 0.484 / 75.
SELECT split_part(run_id, '/', 2) AS source,
       count(coherence_mean) AS cells_scored,
       round(avg(coherence_mean), 3) AS mean_coherence,
       count(*) FILTER (WHERE coherence_mean < 0.5) AS low_coherence_cells
FROM cells
WHERE experiment = 'leakage_i81' AND question = '' AND NOT missing
  AND run_id <> 'coherence_flags/base_model'
GROUP BY source
ORDER BY source;
