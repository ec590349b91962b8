-- 0011_case_no_block.sql — case numbers in blocks, for writers that register many cases in one
-- transaction (intake's group commit): one row lock and one update per region and batch
-- instead of one per case, with the same gap-free guarantee as case_no_next (a rolled-back
-- block is returned whole). Same format as case_no_next: <region>-<year>-<6+ digits>.
create function case_no_block(p_region text, p_year int, p_count int) returns setof text
language sql volatile as $$
    with s as (
        insert into case_seq as s (region_code, year, last_no) values (p_region, p_year, p_count)
        on conflict (region_code, year) do update set last_no = s.last_no + p_count
        returning last_no
    )
    select format('%s-%s-%s', p_region, p_year, lpad(n::text, 6, '0'))
      from s, generate_series(s.last_no - p_count + 1, s.last_no) as n
     order by n
$$;
comment on function case_no_block(text, int, int) is
    'Reserves p_count consecutive case numbers of a region and year and returns them in order; call regions in a fixed order (by code) so concurrent writers cannot deadlock.';
