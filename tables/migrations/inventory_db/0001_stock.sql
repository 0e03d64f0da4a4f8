-- The inventory service's mirror: stock per SKU.
CREATE TABLE IF NOT EXISTS stock (
    sku         VARCHAR(64) NOT NULL PRIMARY KEY,
    on_hand     INT         NOT NULL,
    reserved    INT         NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    version     INT         NOT NULL,
    CONSTRAINT stock_not_negative CHECK (on_hand >= 0 AND reserved >= 0)
);
