from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def test_empty_database_has_the_certificate_catalogue(empty_database_url: str) -> None:
    engine = create_async_engine(empty_database_url)
    async with engine.connect() as conn:
        n = (await conn.execute(text("select count(*) from certificate_types"))).scalar_one()
    await engine.dispose()
    assert n == 9
