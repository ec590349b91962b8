-- Run once by the postgres:15 image on an empty volume (docker-entrypoint-initdb.d), as the
-- superuser. Same role and databases as deploy/stack/up.sh creates on the local stack.
CREATE ROLE jiesu LOGIN CREATEDB PASSWORD 'jiesu';
CREATE DATABASE jiesu OWNER jiesu ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0;
CREATE DATABASE jiesu_test OWNER jiesu ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0;
