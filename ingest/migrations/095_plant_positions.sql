-- Where each plant sits on the park's site plan (park file: a plant's `position: [x, y]`), in percent of
-- the plan's width and height from its top-left corner; null when the park file gives none. The park
-- overview draws the plan from these (README "Park files").
ALTER TABLE plants
    ADD COLUMN site_x double precision CHECK (site_x BETWEEN 0 AND 100),
    ADD COLUMN site_y double precision CHECK (site_y BETWEEN 0 AND 100);
