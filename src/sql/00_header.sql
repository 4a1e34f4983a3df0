-- edgestate install script, assembled from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION edgestate" to load this file. \quit
