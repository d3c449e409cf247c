import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, Scope } from '#lab/auth';
import { type Page, toPage } from '#lab/database';
import { ApiPageResponse, ApiProblems, ApiScopes } from '#lab/openapi';
import { CreateProductDto } from './dto/create-product.dto.js';
import { ProductQueryDto } from './dto/product-query.dto.js';
import { UpdateProductDto } from './dto/update-product.dto.js';
import { ProductResponse, toProductResponse } from './product.response.js';
import { ProductsService } from './products.service.js';

@Controller('products')
@ApiTags('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  /** Public: by name, then id; `q` filters on name or description. */
  @Get()
  @ApiOperation({ summary: 'The catalogue, by name, a page at a time' })
  @ApiPageResponse(ProductResponse)
  @ApiProblems(400)
  async list(@Query() query: ProductQueryDto): Promise<Page<ProductResponse>> {
    const { items, total } = await this.products.list(query);
    return toPage(items, total, query, toProductResponse);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One product' })
  @ApiOkResponse({ type: ProductResponse })
  @ApiProblems(404)
  async findOne(@Param('id') id: string): Promise<ProductResponse> {
    return toProductResponse(await this.products.findById(id));
  }

  @Post()
  @HttpCode(201)
  @Authenticated(Scope.ProductsWrite)
  @ApiOperation({ summary: 'Add a product' })
  @ApiScopes(Scope.ProductsWrite)
  @ApiCreatedResponse({ type: ProductResponse })
  @ApiProblems(400)
  async create(@Body() body: CreateProductDto): Promise<ProductResponse> {
    return toProductResponse(await this.products.create(body));
  }

  @Patch(':id')
  @Authenticated(Scope.ProductsWrite)
  @ApiOperation({
    summary: 'Change a product; stock by stockDelta (409 stock_out_of_range past 0 or the maximum)',
  })
  @ApiScopes(Scope.ProductsWrite)
  @ApiOkResponse({ type: ProductResponse })
  @ApiProblems(400, 404, 409)
  async update(@Param('id') id: string, @Body() body: UpdateProductDto): Promise<ProductResponse> {
    return toProductResponse(await this.products.update(id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated(Scope.ProductsWrite)
  @ApiOperation({ summary: 'Remove a product' })
  @ApiScopes(Scope.ProductsWrite)
  @ApiNoContentResponse({ description: 'Removed.' })
  @ApiProblems(404)
  async remove(@Param('id') id: string): Promise<void> {
    await this.products.remove(id);
  }
}
