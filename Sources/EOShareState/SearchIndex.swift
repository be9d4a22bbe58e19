import GRDB

/// The indexes the STAC API searches with (`eoshare serve`): records by time, and an R*Tree
/// of their boxes. SQLite triggers keep the R*Tree in step with the `records` table, so no
/// writer of the state has to know it exists.
enum SearchIndex {
    /// The R*Tree holds 32-bit floats rounded outwards, so it may return a few more
    /// candidates than the boxes intersect (the server checks each one exactly). A box that
    /// crosses the antimeridian (west > east) is kept as the whole band of longitudes.
    static let migration = """
        CREATE INDEX records_start_time ON records(start_time);
        CREATE INDEX records_end_time ON records(end_time);
        CREATE VIRTUAL TABLE records_rtree USING rtree(rid, west, east, south, north);
        INSERT INTO records_rtree (rid, west, east, south, north)
            SELECT rowid, CASE WHEN west <= east THEN west ELSE -180 END,
                   CASE WHEN west <= east THEN east ELSE 180 END, south, north
            FROM records WHERE west IS NOT NULL AND south <= north;
        CREATE TRIGGER records_rtree_insert AFTER INSERT ON records
        WHEN new.west IS NOT NULL AND new.south <= new.north BEGIN
            INSERT INTO records_rtree (rid, west, east, south, north) VALUES (new.rowid,
                CASE WHEN new.west <= new.east THEN new.west ELSE -180 END,
                CASE WHEN new.west <= new.east THEN new.east ELSE 180 END, new.south, new.north);
        END;
        CREATE TRIGGER records_rtree_update AFTER UPDATE OF west, south, east, north ON records BEGIN
            DELETE FROM records_rtree WHERE rid = old.rowid;
            INSERT INTO records_rtree (rid, west, east, south, north)
                SELECT new.rowid, CASE WHEN new.west <= new.east THEN new.west ELSE -180 END,
                       CASE WHEN new.west <= new.east THEN new.east ELSE 180 END, new.south, new.north
                WHERE new.west IS NOT NULL AND new.south <= new.north;
        END;
        CREATE TRIGGER records_rtree_delete AFTER DELETE ON records BEGIN
            DELETE FROM records_rtree WHERE rid = old.rowid;
        END;
        """

    static func register(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-search-index") { db in try db.execute(sql: migration) }
    }
}
