-- 0017_catalogue_imported_by.sql — who imported each version of the responsibility catalogue.
--
-- The catalogue can now be imported through the dispatcher's API (POST /v1/catalogue/versions)
-- as well as with jiesuctl; a version records the principal who imported it (NULL for jiesuctl,
-- which runs as the operator's own database role, and for the empty version 1). The audit_log
-- row of the import names the same principal. Applied by the migration runner in one
-- transaction.

alter table catalogue_versions
    add column imported_by bigint references principals (id);

comment on column catalogue_versions.imported_by is
    'The principal who imported the version through the API; NULL for jiesuctl and the migration''s version 1.';
comment on column catalogue_versions.source is
    'Where the version came from: the file given to jiesuctl catalogue import, or the source name given to the API (api:…).';
